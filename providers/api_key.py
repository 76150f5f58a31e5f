"""ApiKey: a key inside a subaccount, handed to the apps that send.

`standard` keys come from the 2010 Keys API (parent credentials reach the subaccount's 2010
resources); `restricted` keys from IAM v1 with a Policy, which acts on the account that signs
the call, so those are signed by the subaccount itself.

The secret exists only in the create response: it is an output marked secret. A key found
under our tag without state is deleted and minted again only when an interrupted run of this
same state minted it (its state mark, within the recovery window: providers/identity.py),
since its secret was lost with the answer nobody saw. Any other key with our tag is never
deleted: the create stops and says how to go on (or adopts it, without its secret, when an
operator names its SID in `TLZ_ADOPT`). A new kind or
a bumped `rotation` is a new key; Pulumi creates it before deleting the old one, so a
rotation never leaves the app without a key. Each generation has its own tag, so making the
new key never mistakes the old one for an orphan.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field, field_validator

from identity_tags import with_state_mark, without_state_mark
from providers.adoption import API_KEY_SID, AdoptionError, fetch_adopted, not_there
from providers.base import TwilioProvider, declared, joined
from providers.consistency import read_settled
from providers.created_here import CREATED_HERE
from providers.errors import unless_gone
from providers.identity import (
    CREATE_ATTEMPTS,
    Found,
    adopt_by_sid,
    final_look_window,
    judge,
    listing_window,
    lost_answer_record,
    made_recently,
    once_listed,
    removal_record,
    sweep_twins,
    tagged,
    this_states_leftovers,
    wait_for,
)
from twilio_access.outcomes import UnknownOutcomeError

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
    # The mark of the Pulumi state that manages it (components/state_identity.py).
    state_mark: str | None = Field(default=None, pattern=r"^[0-9a-f]{6}$")
    # An existing key managed from now on, without its secret (Twilio never returns it).
    adopt_sid: str | None = Field(default=None, pattern=API_KEY_SID)

    @property
    def twilio_name(self) -> str:
        """The FriendlyName as Twilio holds it: the planned name, the tag carrying the mark."""
        return with_state_mark(self.friendly_name, self.state_mark)

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
    replace_on = frozenset({"account_sid", "kind", "rotation", "tag", "adopt_sid"})

    def extra_checks(self, inputs: dict[str, Any]):
        if inputs.get("kind") == "restricted" and not inputs.get("permissions"):
            yield "permissions", "ApiKey: a restricted key needs at least one permission"
        if inputs.get("kind") == "standard" and inputs.get("permissions"):
            yield "permissions", "ApiKey: permissions apply to restricted keys only"

    def label(self, props: dict[str, Any]) -> str:
        return joined(props, "account_key", "key_name")

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        if inputs.adopt_sid:
            return self._adopt(inputs)
        key, secret, removed, tried_again = self._mint_once(inputs)
        outputs = dict(
            inputs.model_dump(mode="json"), sid=key.sid, secret=secret, created_at=time.time()
        )
        outputs |= lost_answer_record(tried_again)
        if removed:
            outputs["removed_twins"] = removal_record(removed)
        return CreateResult(key.sid, outputs)

    def _adopt(self, inputs: ApiKeyInputs) -> CreateResult:
        """Manage an existing key of the tenant's account, without its secret: found by SID
        there before any write; its name and permissions updated only where they differ."""
        sid = inputs.adopt_sid or ""
        name = _name(inputs)
        props = inputs.model_dump(mode="json")
        # Twilio and transport failures are reported by the base class's one handler.
        observed = fetch_adopted(lambda: self._fetch(sid, props))
        if observed is None:
            where = f"tenant '{inputs.account_key}' ({inputs.account_sid})"
            raise not_there(self.kind, name, sid, where)
        if inputs.kind == "standard" and self._is_restricted(sid, inputs.account_sid):
            raise AdoptionError(
                self.kind,
                name,
                f"cannot adopt {sid}: it is a restricted key, declared `kind: standard`; "
                "nothing was changed.",
            )
        wanted: dict[str, object] = {"friendly_name": inputs.friendly_name}
        if inputs.kind == "restricted":
            wanted["permissions"] = inputs.permissions
        if any(observed.get(field) != value for field, value in wanted.items()):
            self.update(sid, {}, props)
        # Twilio returns a key's secret only when it is minted: an adopted key has none here.
        outputs = dict(props, sid=sid, secret=None, created_at=time.time())
        return CreateResult(sid, outputs)

    def _is_restricted(self, sid: str, account_sid: str) -> bool:
        key = self.session.as_subaccount(
            account_sid, lambda client: client.iam.v1.api_key(sid).fetch()
        )
        return bool((key.policy or {}).get("allow"))

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        observed = unless_gone(lambda: read_settled(lambda: self._fetch(id, props), props))
        if observed is None:
            return ReadResult(None, {})
        outputs = {**declared(props), **observed}
        if made_recently(props) and not props.get("adopt_sid"):
            removed = self.sweep(id, props)
            if removed:
                outputs["removed_twins"] = removal_record(removed)
        return ReadResult(id, outputs)

    def sweep(self, id: str, props: dict[str, Any], dry_run: bool = False) -> list[str]:
        """Refresh of a key minted recently, or the `up` after a lost answer: delete the keys
        that answer minted (their secrets were lost with it)."""
        return sweep_twins(
            lambda: self._find(props["account_sid"], props.get("tag", "")),
            id,
            props.get("state_mark"),
            lambda twin: self._delete(props["account_sid"], twin.sid),
            dry_run,
        )

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        if inputs.kind == "restricted":
            self.session.as_subaccount(
                inputs.account_sid,
                lambda client: client.iam.v1.api_key(id).update(
                    friendly_name=inputs.twilio_name,
                    policy={"allow": inputs.permissions},
                ),
            )
        else:
            self._v2010_keys(inputs.account_sid)(id).update(friendly_name=inputs.twilio_name)
        kept = {key: olds.get(key) for key in ("sid", "secret", "created_at")}
        return UpdateResult(dict(inputs.model_dump(mode="json"), **kept))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        self._delete(props["account_sid"], id)

    def _mint_once(self, inputs: ApiKeyInputs):
        """Mint a key with no twin left behind: (key, secret, SIDs of keys removed, whether it
        was minted again after a lost answer). A mint whose answer was lost may have made a key
        whose secret nobody saw: it is looked for (Twilio's lists lag) and deleted before
        minting again."""
        removed: list[str] = []
        # Whether an earlier run of this state minted this key and failed or was killed
        # before state saw it (its keys were found and deleted just now).
        resumed = False
        # A subaccount this process just created holds no key of ours yet.
        if inputs.account_sid not in CREATED_HERE:
            adopted = self._clear_interrupted(inputs, self._find_for(inputs), removed)
            if adopted is not None:
                return adopted, None, removed, False
            resumed = bool(removed)
        # A lost mint whose key never showed up in the window: it may show up later (a twin).
        unaccounted = False
        # One mint more than other creates make: where their last look may adopt what the
        # lost answers made, a key's can only delete it (its secret is gone), so the mint
        # after that look is the key's equivalent.
        for attempt in range(CREATE_ATTEMPTS + 1):
            try:
                key = self._mint(inputs)
            except UnknownOutcomeError:
                if attempt == CREATE_ATTEMPTS:
                    raise
            else:
                if resumed and attempt > 0:
                    # This run is already the follow-up of one that lost this key's answers:
                    # a twin left now would need a third run (lists lag longer than the
                    # window). So it makes sure, once, after the mint that worked (even when
                    # a look found a key: it may have been the earlier run's, still lagging).
                    unaccounted = not self._delete_lost_mints(inputs, key.sid, removed)
                return key, key.secret, removed, unaccounted
            # Wait (within the lost-answer window) for the key the lost answer may have made;
            # after the last of the usual attempts, for longer (identity.final_look_window).
            last_look = attempt + 1 == CREATE_ATTEMPTS
            cleared = wait_for(
                lambda: self._find(inputs.account_sid, inputs.tag),
                lambda found: self._clear_interrupted(inputs, found, removed, waiting=True),
                final_look_window() if last_look else None,
            )
            unaccounted = unaccounted or cleared is None
            if cleared is not None and cleared is not True:
                return cleared, None, removed, unaccounted  # a key named in TLZ_ADOPT showed up
        raise AssertionError("unreachable")

    def _delete_lost_mints(self, inputs: ApiKeyInputs, minted: str, removed: list[str]) -> bool:
        """Once the list shows the key just minted, it shows the keys the lost mints before it
        made: delete those (this state's, within the recovery window; identity.py). False
        when the list did not show the new key in time (identity.listing_window):
        the next run's diff looks again (`lost_answer_at`)."""
        listed = once_listed(
            lambda: self._find(inputs.account_sid, inputs.tag), minted, listing_window()
        )
        if listed is None:
            return False
        for leftover in this_states_leftovers(listed, minted, inputs.state_mark):
            if self._delete(inputs.account_sid, leftover.sid):
                removed.append(leftover.sid)
        return True

    def _mint(self, inputs: ApiKeyInputs):
        if inputs.kind == "restricted":
            return self.session.as_subaccount(
                inputs.account_sid,
                lambda client: client.iam.v1.new_api_key.create(
                    account_sid=inputs.account_sid,
                    friendly_name=inputs.twilio_name,
                    key_type="restricted",
                    policy={"allow": inputs.permissions},
                ),
            )
        keys = self.session.parent_acting_on(inputs.account_sid).api.v2010.accounts(
            inputs.account_sid
        )
        return keys.new_keys.create(friendly_name=inputs.twilio_name)

    def _find_for(self, inputs: ApiKeyInputs) -> list[Found]:
        return self._find(inputs.account_sid, inputs.tag)

    def _clear_interrupted(
        self,
        inputs: ApiKeyInputs,
        found: Sequence[Found],
        removed: list[str],
        waiting: bool = False,
    ):
        """Keys under our tag that state does not hold. Those an interrupted run of this state
        minted lost their secret: deleted. A key named in TLZ_ADOPT is adopted (returned),
        without its secret. Any other stops the create (judge): never deleted.
        While `waiting` for a lost mint, returns True once something was found and cleared."""
        if not found:
            return None
        verdict = judge(
            found,
            kind=self.kind,
            name=_name(inputs),
            state_mark=inputs.state_mark,
            what_adopting_means=" (the state then holds the key without its secret)",
        )
        explicit = adopt_by_sid()
        keep = verdict.adopt if verdict.adopt and verdict.adopt.sid in explicit else None
        for item in [verdict.adopt, *verdict.twins]:
            if item is not None and item is not keep and self._delete(inputs.account_sid, item.sid):
                removed.append(item.sid)
        if keep is not None:
            self.update(keep.sid, {}, inputs.model_dump(mode="json"))  # takes our name and mark
            return keep.record
        return True if waiting else None

    def _find(self, account_sid: str, tag: str) -> list[Found]:
        keys = self._v2010_keys(account_sid)
        found = tagged(keys.list(page_size=1000), tag, lambda k: k.friendly_name)
        return [Found.of(key) for key in found]

    def _delete(self, account_sid: str, sid: str) -> bool:
        """Delete a key; one already gone counts as deleted."""
        unless_gone(lambda: self._v2010_keys(account_sid)(sid).delete())
        return True

    def _fetch(self, id: str, props: dict[str, Any]) -> dict[str, Any]:
        if props.get("kind") == "restricted":
            key = self.session.as_subaccount(
                props["account_sid"], lambda client: client.iam.v1.api_key(id).fetch()
            )
            allowed = sorted((key.policy or {}).get("allow", []))
            return {"friendly_name": without_state_mark(key.friendly_name), "permissions": allowed}
        key = self._v2010_keys(props["account_sid"])(id).fetch()
        return {"friendly_name": without_state_mark(key.friendly_name)}

    def _v2010_keys(self, account_sid: str):
        return self.session.parent().api.v2010.accounts(account_sid).keys


def _name(inputs: ApiKeyInputs) -> str:
    return f"{inputs.account_key}/{inputs.key_name}"


class ApiKey(Resource, module="twilio", name="ApiKey"):
    sid: pulumi.Output[str]
    removed_twins: pulumi.Output[dict | None]
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
        state_mark: str | None = None,
        adopt_sid: str | None = None,
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
            "state_mark": state_mark,
            "adopt_sid": adopt_sid,
            "sid": None,
            # Twins of this object that a lost answer had left, removed (their SIDs).
            "removed_twins": None,
            "secret": None,
        }
        # The secret exists only in the create response; state keeps it encrypted.
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["secret"])
        super().__init__(
            ApiKeyProvider(), resource_name, props, pulumi.ResourceOptions.merge(secret_opts, opts)
        )
