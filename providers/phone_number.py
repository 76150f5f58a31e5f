"""PhoneNumber: a number bought into a subaccount: exact, any in an area code, or by search.

Numbers are hard to get back once released, so nothing here releases one unless the stack
says so (`release_on_delete`); a changed search never buys a new number for an existing one,
and an exact number is named by its digits (a different number is a different resource, not
a replacement).
"""

from __future__ import annotations

import random
import time
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field, model_validator
from twilio.base.exceptions import TwilioException

from identity_tags import with_state_mark, without_state_mark
from providers.adoption import NUMBER_SID, AdoptionError, fetch_adopted, not_there
from providers.base import TwilioProvider, declared
from providers.consistency import read_settled
from providers.errors import (
    TwilioResourceError,
    describe_failure,
    is_not_found,
    twilio_code,
    twilio_failures,
    unless_gone,
)
from providers.identity import (
    Found,
    create_once,
    lost_answer_record,
    made_recently,
    removal_record,
    removing,
    sweep_twins,
    tagged,
)

# Candidates drawn per search: concurrent purchases in one area code must not all race for
# the first number Twilio lists.
SEARCH_PAGE = 20
NOT_AVAILABLE = 21422
NONE_IN_AREA_CODE = 21452
# Where a purchase may name just an area code (the API's `AreaCode`: US and Canada).
AREA_CODE_COUNTRIES = frozenset({"US", "CA"})
WEBHOOKS = ("sms_url", "sms_method", "sms_fallback_url", "sms_fallback_method")


class PhoneNumberInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$")
    use_case: str = Field(min_length=1)
    tag: str = Field(pattern=r"^[0-9a-f]{10}$")
    # None for an adopted number: it keeps the name it has in Twilio.
    friendly_name: str | None = Field(default=None, min_length=1, max_length=64)
    phone_number: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{1,14}$")
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    area_code: str | None = Field(default=None, pattern=r"^[2-9][0-9]{2}$")
    contains: str | None = None
    sms_enabled: bool = True
    sms_url: str | None = None
    sms_method: Literal["GET", "POST"] = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: Literal["GET", "POST"] = "POST"
    release_on_delete: bool = False
    # The mark of the Pulumi state that manages it (components/state_identity.py).
    state_mark: str | None = Field(default=None, pattern=r"^[0-9a-f]{6}$")
    # An existing number managed from now on (never bought; its name is left as it is).
    adopt_sid: str | None = Field(default=None, pattern=NUMBER_SID)
    # Where an adopted number lives before it is moved here: 'parent' or an account SID.
    transfer_from: str | None = Field(default=None, pattern=r"^(parent|AC[0-9a-f]{32})$")

    @property
    def twilio_name(self) -> str:
        """The FriendlyName as Twilio holds it: the planned name, the tag carrying the mark."""
        return with_state_mark(self.friendly_name or "", self.state_mark)

    @model_validator(mode="after")
    def exact_number_or_search(self) -> PhoneNumberInputs:
        if self.phone_number and (self.area_code or self.contains):
            raise ValueError("give an exact phone_number or search filters, not both")
        if self.adopt_sid and not self.phone_number:
            raise ValueError("an adopted number (adopt_sid) is named by its exact phone_number")
        if not self.adopt_sid and not self.friendly_name:
            raise ValueError("a number bought here needs a friendly_name (its identity tag)")
        return self

    def webhook_parameters(self) -> dict[str, str]:
        values = self.model_dump(mode="json")
        return {name: values[name] or "" for name in WEBHOOKS}

    def update_parameters(self) -> dict[str, str]:
        """What an update sends: the webhooks, and the name unless the number was adopted."""
        parameters = self.webhook_parameters()
        if self.friendly_name:
            parameters["friendly_name"] = self.twilio_name
        return parameters


class PhoneNumberProvider(TwilioProvider):
    kind = "PhoneNumber"
    inputs_model = PhoneNumberInputs
    replace_on = frozenset({"account_sid", "tag", "phone_number", "adopt_sid"})
    # The E.164 number is the one bought: only a replace buys another.
    kept_on_update = frozenset({"sid", "number"})
    # How an adopted number got here, not what it is: no diff once it has moved.
    not_compared = frozenset({"state_mark", "transfer_from"})
    verbs = {"create": "purchase", "delete": "release"}

    def label(self, props: dict[str, Any]) -> str:
        return str(props.get("friendly_name") or props.get("phone_number") or "")

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]):
        if news.get("adopt_sid") and not news.get("friendly_name"):
            # An adopted number's name is not managed: what refresh observes is no change.
            olds = {key: value for key, value in olds.items() if key != "friendly_name"}
        return super().diff(id, olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        if inputs.adopt_sid:
            return self._adopt(inputs)
        numbers = self.session.parent().api.v2010.accounts(inputs.account_sid)

        def find() -> list[Found]:
            found = tagged(
                numbers.incoming_phone_numbers.list(page_size=1000),
                inputs.tag,
                lambda n: n.friendly_name,
            )
            return [Found.of(number) for number in found]

        def release(twin: Found) -> bool:
            # A twin a lost answer left: a paid number nobody holds.
            return removing(numbers.incoming_phone_numbers(twin.sid).delete)

        outcome = create_once(
            find,
            lambda: self._buy(numbers, inputs),
            kind=self.kind,
            name=_name(inputs),
            state_mark=inputs.state_mark,
            remove_twin=release,
            inside=inputs.account_sid,
        )
        number, removed = outcome.record, outcome.removed
        if outcome.adopted:
            number = numbers.incoming_phone_numbers(number.sid).update(
                friendly_name=inputs.twilio_name, **inputs.webhook_parameters()
            )
        outputs = self._outputs(inputs, number, time.time())
        outputs |= lost_answer_record(outcome.tried_again)
        if removed:
            outputs["removed_twins"] = removal_record(removed)
        return CreateResult(number.sid, outputs)

    def _adopt(self, inputs: PhoneNumberInputs) -> CreateResult:
        """Manage an existing number of the tenant's account: found by SID there before any
        write, then its webhooks updated only where they differ from the stack file."""
        sid = inputs.adopt_sid or ""
        name = _name(inputs)
        numbers = self.session.parent().api.v2010.accounts(inputs.account_sid)
        # Twilio and transport failures: the base class's one handler reports them.
        number = fetch_adopted(lambda: numbers.incoming_phone_numbers(sid).fetch())
        if number is None and inputs.transfer_from:
            number = self._transfer(inputs)
        if number is None:
            where = f"tenant '{inputs.account_key}' ({inputs.account_sid})"
            raise not_there(self.kind, name, sid, where)
        if number.phone_number != inputs.phone_number:
            raise AdoptionError(
                self.kind,
                name,
                f"cannot adopt {sid}: it is {number.phone_number}, not "
                f"{inputs.phone_number}; nothing was changed.",
            )
        wanted = inputs.webhook_parameters()
        if any((getattr(number, key) or "") != wanted[key] for key in WEBHOOKS):
            number = numbers.incoming_phone_numbers(sid).update(**inputs.update_parameters())
        return CreateResult(number.sid, self._outputs(inputs, number, time.time()))

    def _transfer(self, inputs: PhoneNumberInputs):
        """Move the number from the account it lives in to the tenant's, with Twilio's number
        transfer (parent credentials): detached from its services there first; a refused
        transfer puts it back in them and stops with Twilio's error, the number untouched."""
        sid = inputs.adopt_sid or ""
        parent = self.session.parent()
        losing = str(
            parent.account_sid if inputs.transfer_from == "parent" else inputs.transfer_from
        )
        where = f"the account it moves from ({losing})"
        found = fetch_adopted(
            lambda: parent.api.v2010.accounts(losing).incoming_phone_numbers(sid).fetch()
        )
        if found is None:
            raise not_there(self.kind, _name(inputs), sid, where)
        if found.phone_number != inputs.phone_number:
            return found  # refused by the caller, naming both numbers
        in_services = self._on_pools(losing, lambda pools: _detach_everywhere(pools, sid))
        try:
            moved = (
                parent.api.v2010.accounts(losing)
                .incoming_phone_numbers(sid)
                .update(account_sid=inputs.account_sid)
            )
        except twilio_failures() as error:
            # Refused (a bundle or address required, say): back in its services, unmoved.
            self._on_pools(losing, lambda pools: _attach_to(pools, sid, in_services))
            raise describe_failure(
                self.kind, _name(inputs), error, f"transfer from {losing} (the number stays there)"
            ) from None
        if losing == parent.account_sid:
            self._retire_emptied(in_services)
        return moved

    def _on_pools(self, account_sid: str, act):
        """`act(services)` with the Messaging Services of `account_sid`, signed by it."""
        parent = self.session.parent()
        if account_sid == parent.account_sid:
            return act(parent.messaging.v1.services)
        return self.session.as_subaccount(account_sid, lambda c: act(c.messaging.v1.services))

    def _retire_emptied(self, service_sids: list[str]) -> None:
        """A parent service the move left without senders is removed: the parent never sends
        (its senders moved to the tenant first, so nothing that sent through it is lost)."""
        services = self.session.parent().messaging.v1.services
        for service_sid in service_sids:
            service = services(service_sid)
            empty = not (
                service.phone_numbers.list(limit=1)
                or service.short_codes.list(limit=1)
                or service.alpha_senders.list(limit=1)
            )
            if empty:
                try:
                    service.delete()
                except twilio_failures() as error:
                    if not is_not_found(error):
                        raise

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        fetch = (
            self.session.parent()
            .api.v2010.accounts(props["account_sid"])
            .incoming_phone_numbers(id)
            .fetch
        )
        number = unless_gone(lambda: read_settled(fetch, props))
        if number is None:
            return ReadResult(None, {})
        outputs = declared(props)
        # As planned: the state mark in Twilio's name is not a change to report.
        outputs["friendly_name"] = without_state_mark(number.friendly_name)
        for name in WEBHOOKS:
            observed = getattr(number, name)
            outputs[name] = observed or None
        if made_recently(props) and not props.get("adopt_sid"):
            removed = self.sweep(id, props)
            if removed:
                outputs["removed_twins"] = removal_record(removed)
        return ReadResult(id, outputs)

    def sweep(self, id: str, props: dict[str, Any], dry_run: bool = False) -> list[str]:
        """Refresh of a number bought recently, or the `up` after a lost answer: release the
        twins that answer left."""
        numbers = self.session.parent().api.v2010.accounts(props["account_sid"])

        def find() -> list[Found]:
            found = tagged(
                numbers.incoming_phone_numbers.list(page_size=1000),
                props.get("tag", ""),
                lambda n: n.friendly_name,
            )
            return [Found.of(number) for number in found]

        def release(twin: Found) -> bool:
            return removing(numbers.incoming_phone_numbers(twin.sid).delete)

        return sweep_twins(find, id, props.get("state_mark"), release, dry_run)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        numbers = self.session.parent().api.v2010.accounts(inputs.account_sid)
        number = numbers.incoming_phone_numbers(id).update(**inputs.update_parameters())
        return UpdateResult(self._outputs(inputs, number, olds.get("created_at")))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        if not props.get("release_on_delete"):
            # Retained: the number stays in the subaccount, tagged, ready to be adopted again.
            return
        numbers = self.session.parent().api.v2010.accounts(props["account_sid"])
        unless_gone(lambda: numbers.incoming_phone_numbers(id).delete())

    def _buy(self, account, inputs: PhoneNumberInputs):
        buy = account.incoming_phone_numbers.create
        extra = dict(friendly_name=inputs.twilio_name, **inputs.webhook_parameters())
        if inputs.phone_number:
            return buy(phone_number=inputs.phone_number, **extra)
        if (
            inputs.area_code
            and not inputs.contains
            and inputs.sms_enabled
            and inputs.country in AREA_CODE_COUNTRIES
        ):
            # One call instead of a search and a purchase: Twilio picks a number in the area
            # code, and concurrent purchases never race for the same candidate.
            try:
                number = buy(area_code=inputs.area_code, **extra)
            except TwilioException as error:
                if twilio_code(error) != NONE_IN_AREA_CODE:
                    raise
                raise self._none_available(inputs) from None
            if _can_send_sms(number):
                return number
            # Twilio picked one without SMS: give it back, then search for SMS-capable ones.
            account.incoming_phone_numbers(number.sid).delete()
        search: dict[str, Any] = {"sms_enabled": inputs.sms_enabled, "limit": SEARCH_PAGE}
        if inputs.area_code:
            search["area_code"] = inputs.area_code
        if inputs.contains:
            search["contains"] = inputs.contains
        candidates = account.available_phone_numbers(inputs.country).local.list(**search)
        random.shuffle(candidates)
        for candidate in candidates:
            try:
                return buy(phone_number=candidate.phone_number, **extra)
            except TwilioException as error:
                if twilio_code(error) != NOT_AVAILABLE:
                    raise
        raise self._none_available(inputs)

    def _none_available(self, inputs: PhoneNumberInputs) -> TwilioResourceError:
        return TwilioResourceError(
            self.kind,
            _name(inputs),
            f"no {inputs.country} number is available for {_criteria(inputs)}; widen the "
            "search (another area code, fewer `contains` digits) and run `pulumi up` again.",
        )

    @staticmethod
    def _outputs(inputs: PhoneNumberInputs, number, created_at) -> dict[str, Any]:
        return dict(
            inputs.model_dump(mode="json"),
            sid=number.sid,
            number=number.phone_number,
            friendly_name=without_state_mark(number.friendly_name),
            created_at=created_at,
        )


def _detach_everywhere(services, number_sid: str) -> list[str]:
    """Take the number out of every service of the account; the SIDs of those it was in."""
    left = []
    for service in services.list(page_size=1000):
        member = services(service.sid).phone_numbers(number_sid)
        try:
            member.fetch()
        except twilio_failures() as error:
            if is_not_found(error):
                continue
            raise
        member.delete()
        left.append(service.sid)
    return left


def _attach_to(services, number_sid: str, service_sids: list[str]) -> None:
    for service_sid in service_sids:
        services(service_sid).phone_numbers.create(phone_number_sid=number_sid)


def _can_send_sms(number) -> bool:
    capabilities = number.capabilities
    return not isinstance(capabilities, dict) or capabilities.get("sms", True) is not False


def _criteria(inputs: PhoneNumberInputs) -> str:
    parts = [f"area code {inputs.area_code}"] if inputs.area_code else []
    parts += [f"numbers containing {inputs.contains}"] if inputs.contains else []
    return " and ".join(parts) or "any local number"


def _name(inputs: PhoneNumberInputs) -> str:
    return inputs.friendly_name or inputs.phone_number or inputs.account_key


class PhoneNumber(Resource, module="twilio", name="PhoneNumber"):
    sid: pulumi.Output[str]
    removed_twins: pulumi.Output[dict | None]
    number: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        account_key: str,
        account_sid: pulumi.Input[str],
        use_case: str,
        tag: str,
        friendly_name: str | None,
        search_or_number: dict[str, Any],
        sms_webhooks: dict[str, Any],
        release_on_delete: bool,
        state_mark: str | None = None,
        adopt_sid: str | None = None,
        transfer_from: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "account_key": account_key,
            "account_sid": account_sid,
            "use_case": use_case,
            "tag": tag,
            "friendly_name": friendly_name,
            **search_or_number,
            **sms_webhooks,
            "release_on_delete": release_on_delete,
            "state_mark": state_mark,
            "adopt_sid": adopt_sid,
            "transfer_from": transfer_from,
            "sid": None,
            # Twins of this object that a lost answer had left, removed (their SIDs).
            "removed_twins": None,
            "number": None,
        }
        super().__init__(PhoneNumberProvider(), resource_name, props, opts)
