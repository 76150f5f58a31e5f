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

from identity_tags import with_state_mark, without_state_mark
from providers.base import TwilioProvider, declared
from providers.consistency import RECENT_SECONDS
from providers.errors import TwilioResourceError, describe_failure, is_not_found
from providers.identity import (
    Found,
    create_once,
    made_recently,
    removal_record,
    sweep_twins,
    tagged,
)


class SubaccountInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    environment: str = Field(min_length=1)
    # business_unit, customer or shared: what the policy pack checks ISV tenancy against.
    role: Literal["business_unit", "customer", "shared"]
    friendly_name: str = Field(min_length=1, max_length=64)
    tag: str = Field(pattern=r"^[0-9a-f]{10}$")
    status: Literal["active", "suspended"] = "active"
    # The mark of the Pulumi state that manages it (components/state_identity.py).
    state_mark: str | None = Field(default=None, pattern=r"^[0-9a-f]{6}$")

    @property
    def twilio_name(self) -> str:
        """The FriendlyName as Twilio holds it: the planned name, the tag carrying the mark."""
        return with_state_mark(self.friendly_name, self.state_mark)


class SubaccountProvider(TwilioProvider):
    kind = "Subaccount"
    inputs_model = SubaccountInputs
    # A new tag is a new identity; replacing closes the old account for good.
    replace_on = frozenset({"tag"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        parent = self.session.parent()
        accounts = parent.api.v2010.accounts

        def find() -> list[Found]:
            return [
                Found.of(account)
                for account in tagged(
                    accounts.list(page_size=1000), inputs.tag, lambda a: a.friendly_name
                )
                # A closed account is never adopted: it can't be reopened.
                if account.status != "closed" and account.sid != parent.account_sid
            ]

        try:
            account, adopted, removed = create_once(
                find,
                lambda: accounts.create(friendly_name=inputs.twilio_name),
                kind=self.kind,
                name=inputs.account_key,
                state_mark=inputs.state_mark,
                remove_twin=lambda twin: self._close_if_empty(twin.sid),
            )
            if adopted or inputs.status != "active":
                account = self._apply(account.sid, inputs, account)
            # The answer carries the auth token: the objects made inside need no token fetch.
            self.session.remember_account(account)
        except TwilioResourceError:
            raise
        except Exception as error:
            raise describe_failure(self.kind, inputs.account_key, error, "create") from None
        outputs = self._outputs(inputs, account, time.time())
        if removed:
            outputs["removed_twins"] = removal_record(removed)
        return CreateResult(account.sid, outputs)

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
        observed = dict(props, status=account.status)
        outputs = self._outputs_from(observed, account)
        if made_recently(props):
            removed = self._sweep(id, props)
            if removed:
                outputs["removed_twins"] = removal_record(removed)
        return ReadResult(id, outputs)

    def _sweep(self, id: str, props: dict[str, Any]) -> list[str]:
        """Refresh of a subaccount made recently: close the empty twins a lost answer left."""
        accounts = self.session.parent().api.v2010.accounts

        def find() -> list[Found]:
            return [
                Found.of(account)
                for account in tagged(
                    accounts.list(page_size=1000), props.get("tag", ""), lambda a: a.friendly_name
                )
                if account.status != "closed"
            ]

        try:
            return sweep_twins(
                find, id, props.get("state_mark"), lambda twin: self._close_if_empty(twin.sid)
            )
        except Exception as error:
            raise describe_failure(self.kind, props.get("account_key", id), error, "read") from None

    def _close_if_empty(self, sid: str) -> bool:
        """Close a twin subaccount only when it holds nothing: no number, no key, no service
        but Twilio's default one. Otherwise it is left as it is (False)."""
        session = self.session
        parent = session.parent().api.v2010.accounts(sid)
        if parent.incoming_phone_numbers.list(limit=1) or parent.keys.list(limit=1):
            return False
        services = session.as_subaccount(
            sid, lambda client: client.messaging.v1.services.list(limit=20)
        )
        if any(not s.friendly_name.startswith("[Auto-generated]") for s in services):
            return False
        session.forget_account(sid)
        parent.update(status="closed")  # final; it held nothing
        return True

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
        # Adopted explicitly by SID: the name takes this state's mark from now on.
        name = inputs.twilio_name
        if current is not None and (
            current.friendly_name == name and current.status == inputs.status
        ):
            return current
        updated = account_api.update(friendly_name=name, status=inputs.status)
        self.session.remember_account(updated)  # token reused; a later read fetches again
        return updated

    def _outputs(self, inputs: SubaccountInputs, account, created_at) -> dict[str, Any]:
        return self._outputs_from(
            dict(inputs.model_dump(mode="json"), created_at=created_at), account
        )

    @staticmethod
    def _outputs_from(values: dict[str, Any], account) -> dict[str, Any]:
        outputs = declared(values)
        outputs.pop("removed_twins", None)
        outputs.update(
            sid=account.sid,
            # As planned: the state mark in Twilio's name is not a change to report.
            friendly_name=without_state_mark(account.friendly_name),
            status=account.status,
            owner_account_sid=account.owner_account_sid,
        )
        return outputs


class Subaccount(Resource, module="twilio", name="Subaccount"):
    sid: pulumi.Output[str]
    removed_twins: pulumi.Output[dict | None]
    status: pulumi.Output[str]
    friendly_name: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        inputs: SubaccountInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = dict(
            inputs.model_dump(mode="json"), sid=None, owner_account_sid=None, removed_twins=None
        )
        super().__init__(SubaccountProvider(), resource_name, props, opts)
