"""MessagingService: one service per use case in a subaccount, with its settings and webhooks.

Messaging v1 has no account in its paths: it acts on the account that signs the call, so every
call here is signed by the subaccount itself. Every setting updates in place, the use case
included; only a new subaccount or a new identity replaces the service.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field

from identity_tags import with_state_mark, without_state_mark
from providers.adoption import SERVICE_SID, fetch_adopted, not_there
from providers.base import TwilioProvider, declared, joined
from providers.consistency import read_settled
from providers.errors import unless_gone
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

UseCase = Literal["notifications", "marketing", "verification", "discussion", "poll", "undeclared"]
Method = Literal["GET", "POST"]

# Our input name -> the twilio client's keyword (Twilio calls the use case `usecase`).
CLIENT_PARAMETER = {"use_case": "usecase"}
# Settings sent to Twilio; `None` URLs are sent as "" so that removing one clears it.
SETTINGS = (
    "friendly_name",
    "use_case",
    "sticky_sender",
    "area_code_geomatch",
    "smart_encoding",
    "mms_converter",
    "fallback_to_long_code",
    "scan_message_content",
    "validity_period",
    "synchronous_validation",
    "use_inbound_webhook_on_number",
    "inbound_request_url",
    "inbound_method",
    "fallback_url",
    "fallback_method",
    "status_callback",
)
URL_SETTINGS = frozenset({"inbound_request_url", "fallback_url", "status_callback"})


class MessagingServiceInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$")
    tag: str = Field(pattern=r"^[0-9a-f]{10}$")
    friendly_name: str = Field(min_length=1, max_length=64)
    use_case: UseCase
    sticky_sender: bool = True
    area_code_geomatch: bool = True
    smart_encoding: bool = True
    mms_converter: bool = True
    fallback_to_long_code: bool = False
    scan_message_content: Literal["inherit", "enable", "disable"] = "inherit"
    validity_period: int = Field(default=36000, ge=1, le=36000)
    synchronous_validation: bool = False
    use_inbound_webhook_on_number: bool = False
    inbound_request_url: str | None = None
    inbound_method: Method = "POST"
    fallback_url: str | None = None
    fallback_method: Method = "POST"
    status_callback: str | None = None
    # The mark of the Pulumi state that manages it (components/state_identity.py).
    state_mark: str | None = Field(default=None, pattern=r"^[0-9a-f]{6}$")
    # An existing service managed from now on (its name carries no tag).
    adopt_sid: str | None = Field(default=None, pattern=SERVICE_SID)

    def client_parameters(self) -> dict[str, Any]:
        values = self.model_dump(mode="json")
        # Twilio's name carries the state's mark in its tag.
        values["friendly_name"] = with_state_mark(self.friendly_name, self.state_mark)
        return {
            CLIENT_PARAMETER.get(name, name): ("" if values[name] is None else values[name])
            for name in SETTINGS
        }


def observed_settings(service) -> dict[str, Any]:
    """What Twilio holds, under our input names; empty URLs read as None."""
    observed = {}
    for name in SETTINGS:
        value = getattr(service, CLIENT_PARAMETER.get(name, name))
        if name in URL_SETTINGS and not value:
            value = None
        observed[name] = value
    # As planned: the state mark in Twilio's name is not a change to report.
    observed["friendly_name"] = without_state_mark(observed["friendly_name"])
    return observed


class MessagingServiceProvider(TwilioProvider):
    kind = "MessagingService"
    inputs_model = MessagingServiceInputs
    replace_on = frozenset({"account_sid", "tag", "adopt_sid"})

    def label(self, props: dict[str, Any]) -> str:
        return joined(props, "account_key", "use_case")

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        if inputs.adopt_sid:
            return self._adopt(inputs)
        parameters = inputs.client_parameters()

        def work(client):
            services = client.messaging.v1.services

            def find() -> list[Found]:
                found = tagged(services.list(page_size=1000), inputs.tag, lambda s: s.friendly_name)
                return [Found.of(service) for service in found]

            def remove(twin: Found) -> bool:
                return removing(services(twin.sid).delete)

            outcome = create_once(
                find,
                lambda: services.create(**parameters),
                kind=self.kind,
                name=_name(inputs),
                state_mark=inputs.state_mark,
                remove_twin=remove,
                inside=inputs.account_sid,
            )
            service = outcome.record
            if outcome.adopted and (
                observed_settings(service) != _settings(inputs)
                or service.friendly_name != parameters["friendly_name"]
            ):
                service = services(service.sid).update(**parameters)
            return service, outcome

        service, outcome = self.session.as_subaccount(inputs.account_sid, work)
        outputs = dict(inputs.model_dump(mode="json"), sid=service.sid, created_at=time.time())
        outputs |= lost_answer_record(outcome.tried_again)
        if outcome.removed:
            outputs["removed_twins"] = removal_record(outcome.removed)
        return CreateResult(service.sid, outputs)

    def _adopt(self, inputs: MessagingServiceInputs) -> CreateResult:
        """Manage an existing service of the tenant's account: found by SID there before any
        write, then updated only when a setting differs from the stack file."""
        sid = inputs.adopt_sid or ""

        def work(client):
            service = fetch_adopted(lambda: client.messaging.v1.services(sid).fetch())
            if service is None:
                raise not_there(
                    self.kind,
                    _name(inputs),
                    sid,
                    f"tenant '{inputs.account_key}' ({inputs.account_sid})",
                )
            if observed_settings(service) != _settings(inputs):
                service = client.messaging.v1.services(sid).update(**inputs.client_parameters())
            return service

        # Twilio and transport failures: the base class's one handler reports them.
        service = self.session.as_subaccount(inputs.account_sid, work)
        outputs = dict(inputs.model_dump(mode="json"), sid=service.sid, created_at=time.time())
        return CreateResult(service.sid, outputs)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        def fetch():
            return self.session.as_subaccount(
                props["account_sid"], lambda client: client.messaging.v1.services(id).fetch()
            )

        service = unless_gone(lambda: read_settled(fetch, props))
        if service is None:
            return ReadResult(None, {})
        outputs = declared(props)
        outputs.update(observed_settings(service))
        if made_recently(props) and not props.get("adopt_sid"):
            removed = self.sweep(id, props)
            if removed:
                outputs["removed_twins"] = removal_record(removed)
        return ReadResult(id, outputs)

    def sweep(self, id: str, props: dict[str, Any], dry_run: bool = False) -> list[str]:
        """Refresh of a service made recently, or the `up` after a lost answer: delete the
        twins that answer left."""

        def work(client) -> list[str]:
            services = client.messaging.v1.services

            def find() -> list[Found]:
                found = tagged(
                    services.list(page_size=1000), props.get("tag", ""), lambda s: s.friendly_name
                )
                return [Found.of(service) for service in found]

            def remove(twin: Found) -> bool:
                return removing(services(twin.sid).delete)

            return sweep_twins(find, id, props.get("state_mark"), remove, dry_run)

        return self.session.as_subaccount(props["account_sid"], work)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        self.session.as_subaccount(
            inputs.account_sid,
            lambda client: client.messaging.v1.services(id).update(**inputs.client_parameters()),
        )
        return UpdateResult(
            dict(inputs.model_dump(mode="json"), sid=id, created_at=olds.get("created_at"))
        )

    def delete(self, id: str, props: dict[str, Any]) -> None:
        unless_gone(
            lambda: self.session.as_subaccount(
                props["account_sid"], lambda client: client.messaging.v1.services(id).delete()
            )
        )


def _settings(inputs: MessagingServiceInputs) -> dict[str, Any]:
    values = inputs.model_dump(mode="json")
    return {name: values[name] for name in SETTINGS}


def _name(inputs: MessagingServiceInputs) -> str:
    return f"{inputs.account_key}/{inputs.use_case}"


class MessagingService(Resource, module="twilio", name="MessagingService"):
    sid: pulumi.Output[str]
    removed_twins: pulumi.Output[dict | None]

    def __init__(
        self,
        resource_name: str,
        *,
        account_key: str,
        account_sid: pulumi.Input[str],
        tag: str,
        settings: dict[str, Any],
        state_mark: str | None = None,
        adopt_sid: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`settings`: friendly_name, use_case and the service settings and webhooks, named
        as in MessagingServiceInputs (status_callback may be an Output)."""
        props = {
            "account_key": account_key,
            "account_sid": account_sid,
            "tag": tag,
            **settings,
            "state_mark": state_mark,
            "adopt_sid": adopt_sid,
            "sid": None,
            # Twins of this object that a lost answer had left, removed (their SIDs).
            "removed_twins": None,
        }
        super().__init__(MessagingServiceProvider(), resource_name, props, opts)
