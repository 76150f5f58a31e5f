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
from twilio.base.exceptions import TwilioException

from identity_tags import with_state_mark, without_state_mark
from providers.adoption import ACCOUNT_SID, AdoptionError, fetch_adopted, not_there
from providers.base import TwilioProvider, declared
from providers.consistency import RECENT_SECONDS
from providers.errors import TwilioResourceError, is_not_found, twilio_code, unless_gone
from providers.identity import (
    Found,
    create_once,
    lost_answer_record,
    made_recently,
    removal_record,
    sweep_twins,
    tagged,
)

ALREADY_CLOSED = 21479


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
    # An existing subaccount managed from now on (its name carries no tag).
    adopt_sid: str | None = Field(default=None, pattern=ACCOUNT_SID)

    @property
    def twilio_name(self) -> str:
        """The FriendlyName as Twilio holds it: the planned name, the tag carrying the mark."""
        return with_state_mark(self.friendly_name, self.state_mark)


class SubaccountProvider(TwilioProvider):
    kind = "Subaccount"
    inputs_model = SubaccountInputs
    # A new tag or adopted SID is a new identity; replacing closes the old account for good.
    replace_on = frozenset({"tag", "adopt_sid"})
    kept_on_update = frozenset({"sid", "owner_account_sid"})
    verbs = {"delete": "close"}

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        if inputs.adopt_sid:
            return self._adopt(inputs)
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

        outcome = create_once(
            find,
            lambda: accounts.create(friendly_name=inputs.twilio_name),
            kind=self.kind,
            name=inputs.account_key,
            state_mark=inputs.state_mark,
            remove_twin=lambda twin: self._close_if_empty(twin.sid),
        )
        account, removed = outcome.record, outcome.removed
        if outcome.adopted or inputs.status != "active":
            account = self._apply(account.sid, inputs, account)
        # The answer carries the auth token: the objects made inside need no token fetch.
        self.session.remember_account(account)
        outputs = self._outputs(inputs, account, time.time())
        outputs |= lost_answer_record(outcome.tried_again)
        if removed:
            outputs["removed_twins"] = removal_record(removed)
        return CreateResult(account.sid, outputs)

    def _adopt(self, inputs: SubaccountInputs) -> CreateResult:
        """Manage an existing subaccount of this parent: checked before any write, then only
        what the stack file says differently (name, status) is updated."""
        sid = inputs.adopt_sid or ""
        parent = self.session.parent()
        name = inputs.account_key
        # Twilio and transport failures: the base class's one handler reports them.
        account = fetch_adopted(lambda: parent.api.v2010.accounts(sid).fetch())
        if account is None or account.owner_account_sid != parent.account_sid:
            raise not_there(self.kind, name, sid, f"the parent account {parent.account_sid}")
        if account.sid == parent.account_sid:
            raise AdoptionError(
                self.kind,
                name,
                f"cannot adopt {sid}: it is the parent account itself, which is never a "
                "tenant; nothing was changed.",
            )
        if account.status == "closed":
            raise AdoptionError(
                self.kind, name, f"cannot adopt {sid}: it is closed, which is final."
            )
        account = self._apply(account.sid, inputs, account)
        self.session.remember_account(account)
        return CreateResult(account.sid, self._outputs(inputs, account, time.time()))

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        recent = time.time() - float(props.get("created_at") or 0) < RECENT_SECONDS
        # Shared with the token lookups of the objects inside, read at the same moment.
        account = unless_gone(lambda: self.session.fetch_account(id, settle_404=recent))
        if account is None or account.status == "closed":
            return ReadResult(None, {})
        observed = dict(props, status=account.status)
        outputs = self._outputs_from(observed, account)
        if made_recently(props) and not props.get("adopt_sid"):
            removed = self.sweep(id, props)
            if removed:
                outputs["removed_twins"] = removal_record(removed)
        return ReadResult(id, outputs)

    def sweep(self, id: str, props: dict[str, Any], dry_run: bool = False) -> list[str]:
        """Refresh of a subaccount made recently, or the `up` after a lost answer: close the
        empty twins that answer left."""
        accounts = self.session.parent().api.v2010.accounts

        def find() -> list[Found]:
            return [
                Found.of(account)
                for account in tagged(
                    accounts.list(page_size=1000), props.get("tag", ""), lambda a: a.friendly_name
                )
                if account.status != "closed"
            ]

        return sweep_twins(
            find,
            id,
            props.get("state_mark"),
            lambda twin: self._close_if_empty(twin.sid),
            dry_run,
        )

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
        try:
            parent.update(status="closed")  # final; it held nothing
        except TwilioException as error:
            # Sent again after a lost answer: the first one closed it.
            if twilio_code(error) != ALREADY_CLOSED:
                raise
        return True

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        account = self._apply(id, inputs, None)
        return UpdateResult(self._outputs(inputs, account, olds.get("created_at")))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        name = props.get("account_key", id)
        if props.get("adopt_sid"):
            # It existed before this stack: handed back as it is, never closed (final).
            return
        session = self.session
        numbers = unless_gone(
            lambda: session.parent_acting_on(id).incoming_phone_numbers.list(limit=20)
        )
        if numbers is None:
            return  # already gone
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
        except TwilioException as error:
            if is_not_found(error) or twilio_code(error) == ALREADY_CLOSED:
                return  # already gone or already closed
            raise

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
