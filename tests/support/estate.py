"""Look at what the emulator holds, the way an operator would with the official client."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.rest import Client

from identity_tags import parse_tag
from tests.support.emulator_process import EmulatorProcess


@dataclass(frozen=True)
class ServiceView:
    sid: str
    friendly_name: str
    use_case: str
    status_callback: str | None
    inbound_request_url: str | None
    validity_period: int
    phone_number_sids: frozenset[str]


@dataclass(frozen=True)
class AccountView:
    sid: str
    friendly_name: str
    status: str
    keys: tuple[str, ...]  # friendly names
    numbers: dict[str, str]  # PN SID -> E.164
    services: tuple[ServiceView, ...]

    def service(self, use_case: str) -> ServiceView:
        ours = [s for s in self.services if parse_tag(s.friendly_name)]
        [found] = [s for s in ours if s.use_case == use_case]
        return found


def subaccount_client(emulator: EmulatorProcess, sid: str) -> Client:
    token = emulator.client().api.v2010.accounts(sid).fetch().auth_token
    return emulator.client(sid, token)


def estate(emulator: EmulatorProcess) -> dict[str, AccountView]:
    """Every subaccount that carries one of our tags, by SID."""
    parent = emulator.client()
    views = {}
    for account in parent.api.v2010.accounts.list(page_size=1000):
        if account.sid == emulator.account_sid or not parse_tag(account.friendly_name):
            continue
        keys = tuple(k.friendly_name for k in parent.api.v2010.accounts(account.sid).keys.list())
        numbers = {
            n.sid: n.phone_number
            for n in parent.api.v2010.accounts(account.sid).incoming_phone_numbers.list()
        }
        services = ()
        if account.status != "closed":
            own = subaccount_client(emulator, account.sid).messaging.v1.services
            services = tuple(
                ServiceView(
                    sid=s.sid,
                    friendly_name=s.friendly_name,
                    use_case=s.usecase,
                    status_callback=s.status_callback,
                    inbound_request_url=s.inbound_request_url,
                    validity_period=s.validity_period,
                    phone_number_sids=frozenset(n.sid for n in own(s.sid).phone_numbers.list()),
                )
                for s in own.list()
            )
        views[account.sid] = AccountView(
            account.sid, account.friendly_name, account.status, keys, numbers, services
        )
    return views
