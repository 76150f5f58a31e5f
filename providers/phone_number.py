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

from identity_tags import with_state_mark, without_state_mark
from providers.base import TwilioProvider, declared
from providers.consistency import read_settled
from providers.errors import TwilioResourceError, describe_failure, is_not_found, twilio_code
from providers.identity import (
    Found,
    create_once,
    made_recently,
    removal_record,
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
    friendly_name: str = Field(min_length=1, max_length=64)
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

    @property
    def twilio_name(self) -> str:
        """The FriendlyName as Twilio holds it: the planned name, the tag carrying the mark."""
        return with_state_mark(self.friendly_name, self.state_mark)

    @model_validator(mode="after")
    def exact_number_or_search(self) -> PhoneNumberInputs:
        if self.phone_number and (self.area_code or self.contains):
            raise ValueError("give an exact phone_number or search filters, not both")
        return self

    def webhook_parameters(self) -> dict[str, str]:
        values = self.model_dump(mode="json")
        return {name: values[name] or "" for name in WEBHOOKS}


class PhoneNumberProvider(TwilioProvider):
    kind = "PhoneNumber"
    inputs_model = PhoneNumberInputs
    replace_on = frozenset({"account_sid", "tag", "phone_number"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
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
            numbers.incoming_phone_numbers(twin.sid).delete()
            return True

        try:
            number, adopted, removed = create_once(
                find,
                lambda: self._buy(numbers, inputs),
                kind=self.kind,
                name=_name(inputs),
                state_mark=inputs.state_mark,
                remove_twin=release,
                inside=inputs.account_sid,
            )
            if adopted:
                number = numbers.incoming_phone_numbers(number.sid).update(
                    friendly_name=inputs.twilio_name, **inputs.webhook_parameters()
                )
        except TwilioResourceError:
            raise
        except Exception as error:
            raise describe_failure(self.kind, _name(inputs), error, "purchase") from None
        outputs = self._outputs(inputs, number, time.time())
        if removed:
            outputs["removed_twins"] = removal_record(removed)
        return CreateResult(number.sid, outputs)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        fetch = (
            self.session.parent()
            .api.v2010.accounts(props["account_sid"])
            .incoming_phone_numbers(id)
            .fetch
        )
        try:
            number = read_settled(fetch, props)
        except Exception as error:
            if is_not_found(error):
                return ReadResult(None, {})
            raise describe_failure(
                self.kind, props.get("friendly_name", id), error, "read"
            ) from None
        outputs = declared(props)
        # As planned: the state mark in Twilio's name is not a change to report.
        outputs["friendly_name"] = without_state_mark(number.friendly_name)
        for name in WEBHOOKS:
            observed = getattr(number, name)
            outputs[name] = observed or None
        if made_recently(props):
            removed = self._sweep(id, props)
            if removed:
                outputs["removed_twins"] = removal_record(removed)
        return ReadResult(id, outputs)

    def _sweep(self, id: str, props: dict[str, Any]) -> list[str]:
        """Refresh of a number bought recently: release the twins a lost answer left."""
        numbers = self.session.parent().api.v2010.accounts(props["account_sid"])

        def find() -> list[Found]:
            found = tagged(
                numbers.incoming_phone_numbers.list(page_size=1000),
                props.get("tag", ""),
                lambda n: n.friendly_name,
            )
            return [Found.of(number) for number in found]

        def release(twin: Found) -> bool:
            numbers.incoming_phone_numbers(twin.sid).delete()
            return True

        try:
            return sweep_twins(find, id, props.get("state_mark"), release)
        except Exception as error:
            raise describe_failure(
                self.kind, props.get("friendly_name", id), error, "read"
            ) from None

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        numbers = self.session.parent().api.v2010.accounts(inputs.account_sid)
        try:
            number = numbers.incoming_phone_numbers(id).update(
                friendly_name=inputs.twilio_name, **inputs.webhook_parameters()
            )
        except Exception as error:
            raise describe_failure(self.kind, _name(inputs), error, "update") from None
        return UpdateResult(self._outputs(inputs, number, olds.get("created_at")))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        if not props.get("release_on_delete"):
            # Retained: the number stays in the subaccount, tagged, ready to be adopted again.
            return
        numbers = self.session.parent().api.v2010.accounts(props["account_sid"])
        try:
            numbers.incoming_phone_numbers(id).delete()
        except Exception as error:
            if is_not_found(error):
                return
            raise describe_failure(
                self.kind, props.get("phone_number") or id, error, "release"
            ) from None

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
            except Exception as error:
                if twilio_code(error) != NONE_IN_AREA_CODE:
                    raise
                raise self._none_available(inputs) from None
            if _can_send_sms(number):
                return number
            # Twilio picked one without SMS: give it back, then search for SMS-capable ones.
            account.incoming_phone_numbers(number.sid).delete()
        search = {"sms_enabled": inputs.sms_enabled, "limit": SEARCH_PAGE}
        if inputs.area_code:
            search["area_code"] = inputs.area_code
        if inputs.contains:
            search["contains"] = inputs.contains
        candidates = account.available_phone_numbers(inputs.country).local.list(**search)
        random.shuffle(candidates)
        for candidate in candidates:
            try:
                return buy(phone_number=candidate.phone_number, **extra)
            except Exception as error:
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


def _can_send_sms(number) -> bool:
    capabilities = number.capabilities
    return not isinstance(capabilities, dict) or capabilities.get("sms", True) is not False


def _criteria(inputs: PhoneNumberInputs) -> str:
    parts = [f"area code {inputs.area_code}"] if inputs.area_code else []
    parts += [f"numbers containing {inputs.contains}"] if inputs.contains else []
    return " and ".join(parts) or "any local number"


def _name(inputs: PhoneNumberInputs) -> str:
    return inputs.friendly_name


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
        friendly_name: str,
        search_or_number: dict[str, Any],
        sms_webhooks: dict[str, Any],
        release_on_delete: bool,
        state_mark: str | None = None,
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
            "sid": None,
            # Twins of this object that a lost answer had left, removed (their SIDs).
            "removed_twins": None,
            "number": None,
        }
        super().__init__(PhoneNumberProvider(), resource_name, props, opts)
