"""DefaultMessagingService: the service Twilio generates in every account.

Twilio routes messages sent without a MessagingServiceSid through an account's
`[Auto-generated] Default Messaging Service`. We never create or delete it; we adopt it and
give it the stack's status callback, so traffic sent without a service is tracked too. An
account without one (Twilio does not confirm it for every subaccount) records `none`.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field
from twilio.base.exceptions import TwilioException

from providers.base import TwilioProvider, declared
from providers.errors import http_status, unless_gone

DEFAULT_SERVICE_NAME = "[Auto-generated] Default Messaging Service"
NONE = "none"


class DefaultMessagingServiceInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$")
    status_callback: str | None = None


class DefaultMessagingServiceProvider(TwilioProvider):
    kind = "DefaultMessagingService"
    inputs_model = DefaultMessagingServiceInputs
    replace_on = frozenset({"account_sid"})
    verbs = {"create": "adopt", "delete": "release"}

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)

        def adopt(client):
            services = client.messaging.v1.services
            found = [
                s for s in services.list(page_size=1000) if s.friendly_name == DEFAULT_SERVICE_NAME
            ]
            if not found:
                return None, None
            service = found[0]
            original = service.status_callback or None
            if original != inputs.status_callback:
                services(service.sid).update(status_callback=inputs.status_callback or "")
            return service.sid, original

        sid, original = self.session.as_subaccount(inputs.account_sid, adopt)
        outputs = dict(
            inputs.model_dump(mode="json"),
            sid=sid or NONE,
            original_status_callback=original,
        )
        return CreateResult(sid or f"{NONE}-{inputs.account_sid}", outputs)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        outputs = declared(props)
        if props.get("sid") == NONE:
            return ReadResult(id, outputs)
        service = unless_gone(
            lambda: self.session.as_subaccount(
                props["account_sid"], lambda client: client.messaging.v1.services(id).fetch()
            )
        )
        if service is None:
            return ReadResult(None, {})
        outputs["status_callback"] = service.status_callback or None
        return ReadResult(id, outputs)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        if olds.get("sid") != NONE:
            self.session.as_subaccount(
                inputs.account_sid,
                lambda client: client.messaging.v1.services(id).update(
                    status_callback=inputs.status_callback or ""
                ),
            )
        kept = {key: olds.get(key) for key in ("sid", "original_status_callback")}
        return UpdateResult(dict(inputs.model_dump(mode="json"), **kept))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        """Not ours to delete: leave it with the status callback it had before we came."""
        if props.get("sid") == NONE:
            return
        try:
            self.session.as_subaccount(
                props["account_sid"],
                lambda client: client.messaging.v1.services(id).update(
                    status_callback=props.get("original_status_callback") or ""
                ),
            )
        except TwilioException as error:
            # A closed or vanished account has nothing left to restore.
            if http_status(error) in (401, 403, 404):
                return
            raise


class DefaultMessagingService(Resource, module="twilio", name="DefaultMessagingService"):
    sid: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        account_key: str,
        account_sid: pulumi.Input[str],
        status_callback: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "account_key": account_key,
            "account_sid": account_sid,
            "status_callback": status_callback,
            "sid": None,
            "original_status_callback": None,
        }
        super().__init__(DefaultMessagingServiceProvider(), resource_name, props, opts)
