"""ApiKey: a key inside a subaccount, handed to the apps that send.

`standard` keys come from the 2010 Keys API (parent credentials reach the subaccount's 2010
resources); `restricted` keys from IAM v1 with a Policy, which acts on the account that signs
the call, so those are signed by the subaccount itself.

The secret exists only in the create response: it is an output marked secret, and a key
found under our tag without state is deleted and minted again, never adopted. A new kind or
a bumped `rotation` is a new key; Pulumi creates it before deleting the old one, so a
rotation never leaves the app without a key. Each generation has its own tag, so making the
new key never mistakes the old one for an orphan.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field, field_validator

from providers.base import TwilioProvider, declared
from providers.consistency import read_settled
from providers.created_here import CREATED_HERE
from providers.errors import describe_failure, is_not_found
from providers.identity import CREATE_ATTEMPTS, tagged
from providers.transport import UnknownOutcomeError

PERMISSION_PATTERN = r"^/twilio/[a-z0-9-]+(/[a-z0-9-]+)+$"


class ApiKeyInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$")
    key_name: str = Field(min_length=1)
    kind: Literal["standard", "restricted"]
    permissions: list[str] = Field(default_factory=list, max_length=100)
    rotation: int = Field(default=0, ge=0)
    friendly_name: str = Field(min_length=1, max_length=64)
    tag: str = Field(pattern=r"^[0-9a-f]{10}$")

    @field_validator("permissions")
    @classmethod
    def permissions_are_twilio_paths(cls, permissions: list[str]) -> list[str]:
        bad = [p for p in permissions if not re.match(PERMISSION_PATTERN, p)]
        if bad:
            example = "/twilio/messaging/messages/create"
            raise ValueError(f"not Twilio permissions (like {example}): {bad}")
        return sorted(set(permissions))


class ApiKeyProvider(TwilioProvider):
    kind = "ApiKey"
    inputs_model = ApiKeyInputs
    replace_on = frozenset({"account_sid", "kind", "rotation", "tag"})

    def extra_checks(self, inputs: dict[str, Any]):
        if inputs.get("kind") == "restricted" and not inputs.get("permissions"):
            yield "permissions", "ApiKey: a restricted key needs at least one permission"
        if inputs.get("kind") == "standard" and inputs.get("permissions"):
            yield "permissions", "ApiKey: permissions apply to restricted keys only"

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        name = _name(inputs)
        try:
            key = self._mint_once(inputs)
        except Exception as error:
            raise describe_failure(self.kind, name, error, "create") from None
        outputs = dict(
            inputs.model_dump(mode="json"), sid=key.sid, secret=key.secret, created_at=time.time()
        )
        return CreateResult(key.sid, outputs)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        try:
            observed = read_settled(lambda: self._fetch(id, props), props)
        except Exception as error:
            if is_not_found(error):
                return ReadResult(None, {})
            raise describe_failure(self.kind, props.get("key_name", id), error, "read") from None
        return ReadResult(id, {**declared(props), **observed})

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        try:
            if inputs.kind == "restricted":
                self.session.as_subaccount(
                    inputs.account_sid,
                    lambda client: client.iam.v1.api_key(id).update(
                        friendly_name=inputs.friendly_name,
                        policy={"allow": inputs.permissions},
                    ),
                )
            else:
                self._v2010_keys(inputs.account_sid)(id).update(friendly_name=inputs.friendly_name)
        except Exception as error:
            raise describe_failure(self.kind, _name(inputs), error, "update") from None
        kept = {key: olds.get(key) for key in ("sid", "secret", "created_at")}
        return UpdateResult(dict(inputs.model_dump(mode="json"), **kept))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        try:
            self._v2010_keys(props["account_sid"])(id).delete()
        except Exception as error:
            if is_not_found(error):
                return
            raise describe_failure(self.kind, props.get("key_name", id), error, "delete") from None

    def _mint_once(self, inputs: ApiKeyInputs):
        """Mint a key with no twin left behind: a mint whose answer was lost may have made a
        key whose secret nobody saw, which the next look under our tag deletes."""
        for attempt in range(CREATE_ATTEMPTS):
            # A subaccount this process just created holds no key of ours yet.
            if attempt > 0 or inputs.account_sid not in CREATED_HERE:
                self._delete_orphans(inputs)
            try:
                return self._mint(inputs)
            except UnknownOutcomeError:
                if attempt + 1 == CREATE_ATTEMPTS:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _mint(self, inputs: ApiKeyInputs):
        if inputs.kind == "restricted":
            return self.session.as_subaccount(
                inputs.account_sid,
                lambda client: client.iam.v1.new_api_key.create(
                    account_sid=inputs.account_sid,
                    friendly_name=inputs.friendly_name,
                    key_type="restricted",
                    policy={"allow": inputs.permissions},
                ),
            )
        keys = self.session.parent_acting_on(inputs.account_sid).api.v2010.accounts(
            inputs.account_sid
        )
        return keys.new_keys.create(friendly_name=inputs.friendly_name)

    def _delete_orphans(self, inputs: ApiKeyInputs) -> None:
        """A key under our tag with no state lost its secret with the create response that
        nobody saw: remove it rather than adopt it."""
        keys = self._v2010_keys(inputs.account_sid)
        for orphan in tagged(keys.list(page_size=1000), inputs.tag, lambda k: k.friendly_name):
            try:
                keys(orphan.sid).delete()
            except Exception as error:
                if not is_not_found(error):
                    raise

    def _fetch(self, id: str, props: dict[str, Any]) -> dict[str, Any]:
        if props.get("kind") == "restricted":
            key = self.session.as_subaccount(
                props["account_sid"], lambda client: client.iam.v1.api_key(id).fetch()
            )
            allowed = sorted((key.policy or {}).get("allow", []))
            return {"friendly_name": key.friendly_name, "permissions": allowed}
        key = self._v2010_keys(props["account_sid"])(id).fetch()
        return {"friendly_name": key.friendly_name}

    def _v2010_keys(self, account_sid: str):
        return self.session.parent().api.v2010.accounts(account_sid).keys


def _name(inputs: ApiKeyInputs) -> str:
    return f"{inputs.account_key}/{inputs.key_name}"


class ApiKey(Resource, module="twilio", name="ApiKey"):
    sid: pulumi.Output[str]
    secret: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        account_key: str,
        account_sid: pulumi.Input[str],
        key_name: str,
        kind: str,
        friendly_name: str,
        tag: str,
        permissions: list[str] | None = None,
        rotation: int = 0,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "account_key": account_key,
            "account_sid": account_sid,
            "key_name": key_name,
            "kind": kind,
            "permissions": sorted(set(permissions or [])),
            "rotation": rotation,
            "friendly_name": friendly_name,
            "tag": tag,
            "sid": None,
            "secret": None,
        }
        # The secret exists only in the create response; state keeps it encrypted.
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["secret"])
        super().__init__(
            ApiKeyProvider(), resource_name, props, pulumi.ResourceOptions.merge(secret_opts, opts)
        )
