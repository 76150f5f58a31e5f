"""Subaccount: one Twilio account under the parent, per environment, business unit or customer.

Twilio has no DELETE for accounts: deleting sets status `closed`, which is permanent and
releases every number the account holds, so delete refuses while numbers remain. Production
stacks also protect subaccounts (components set `protect`).
"""

from __future__ import annotations

import time
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field

from providers.base import TwilioProvider, declared
from providers.consistency import RECENT_SECONDS
from providers.errors import TwilioResourceError, describe_failure, is_not_found
from providers.identity import create_once, tagged


class SubaccountInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    # business_unit, customer or shared: what the policy pack checks ISV tenancy against.
    role: Literal["business_unit", "customer", "shared"]
    friendly_name: str = Field(min_length=1, max_length=64)
    tag: str = Field(pattern=r"^[0-9a-f]{10}$")
    status: Literal["active", "suspended"] = "active"


class SubaccountProvider(TwilioProvider):
    kind = "Subaccount"
    inputs_model = SubaccountInputs
    # A new tag is a new identity; replacing closes the old account for good.
    replace_on = frozenset({"tag"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        parent = self.session.parent()
        accounts = parent.api.v2010.accounts

        def find():
            matches = [
                account
                for account in tagged(
                    accounts.list(page_size=1000), inputs.tag, lambda a: a.friendly_name
                )
                # A closed account is never adopted: it can't be reopened.
                if account.status != "closed" and account.sid != parent.account_sid
            ]
            return matches[0] if matches else None

        try:
            account, adopted = create_once(
                find, lambda: accounts.create(friendly_name=inputs.friendly_name)
            )
            if adopted or inputs.status != "active":
                account = self._apply(account.sid, inputs, account)
            # The answer carries the auth token: the objects made inside need no token fetch.
            self.session.remember_account(account)
        except TwilioResourceError:
            raise
        except Exception as error:
            raise describe_failure(self.kind, inputs.account_key, error, "create") from None
        return CreateResult(account.sid, self._outputs(inputs, account, time.time()))

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        recent = time.time() - float(props.get("created_at") or 0) < RECENT_SECONDS
        try:
            # Shared with the token lookups of the objects inside, read at the same moment.
            account = self.session.fetch_account(id, settle_404=recent)
        except Exception as error:
            if is_not_found(error):
                return ReadResult(None, {})
            raise describe_failure(self.kind, props.get("account_key", id), error, "read") from None
        if account.status == "closed":
            return ReadResult(None, {})
        observed = dict(props, friendly_name=account.friendly_name, status=account.status)
        return ReadResult(id, self._outputs_from(observed, account))

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        try:
            account = self._apply(id, inputs, None)
        except Exception as error:
            raise describe_failure(self.kind, inputs.account_key, error, "update") from None
        return UpdateResult(self._outputs(inputs, account, olds.get("created_at")))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        name = props.get("account_key", id)
        session = self.session
        try:
            numbers = session.parent_acting_on(id).incoming_phone_numbers.list(limit=20)
        except Exception as error:
            if is_not_found(error):
                return
            raise describe_failure(self.kind, name, error, "delete") from None
        if numbers:
            listed = ", ".join(number.phone_number for number in numbers)
            raise TwilioResourceError(
                self.kind,
                name,
                f"still holds phone numbers ({listed}). Closing the subaccount would release "
                "them for good, so it was left open. Release them (set `release_on_delete: "
                "true` on the senders and run `pulumi up`) or move them to another account, "
                "then run `pulumi destroy` again.",
            )
        try:
            # Twilio has no DELETE for accounts; `closed` is final.
            session.forget_account(id)
            session.parent().api.v2010.accounts(id).update(status="closed")
        except Exception as error:
            if is_not_found(error) or getattr(error, "code", None) == 21479:
                return  # already gone or already closed
            raise describe_failure(self.kind, name, error, "close") from None

    def _apply(self, sid: str, inputs: SubaccountInputs, current) -> Any:
        account_api = self.session.parent().api.v2010.accounts(sid)
        if current is not None and (
            current.friendly_name == inputs.friendly_name and current.status == inputs.status
        ):
            return current
        updated = account_api.update(friendly_name=inputs.friendly_name, status=inputs.status)
        self.session.remember_account(updated)  # token reused; a later read fetches again
        return updated

    def _outputs(self, inputs: SubaccountInputs, account, created_at) -> dict[str, Any]:
        return self._outputs_from(
            dict(inputs.model_dump(mode="json"), created_at=created_at), account
        )

    @staticmethod
    def _outputs_from(values: dict[str, Any], account) -> dict[str, Any]:
        outputs = declared(values)
        outputs.update(
            sid=account.sid,
            friendly_name=account.friendly_name,
            status=account.status,
            owner_account_sid=account.owner_account_sid,
        )
        return outputs


class Subaccount(Resource, module="twilio", name="Subaccount"):
    sid: pulumi.Output[str]
    status: pulumi.Output[str]
    friendly_name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        inputs: SubaccountInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = dict(inputs.model_dump(mode="json"), sid=None, owner_account_sid=None)
        super().__init__(SubaccountProvider(), resource_name, props, opts)
