"""Discover: an existing account, read-only, written as a stack file that adopts it.

Every active subaccount becomes a tenant (its key derived from its name; edit it before the
first `up`, never after), with its Messaging Services and every setting read back, their
sender pools, numbers with their webhooks and API keys by name; the SID of each object goes
under the architecture's `adopt` map, so `pulumi up` manages what exists instead of creating
anything. What the stack-file model cannot express exactly (objects on the parent, a second
service for one use case, a number in no service, a webhook the model refuses...) is left out
and listed in a comment block at the top of the file with the reason: left out means left as
it is in Twilio, never changed by `up`.

`estate` sits below `architecture` (tests/estate/test_layering.py), so the few names and
limits of the stack-file model used here are restated, and tests/estate/test_discover.py holds
them equal to architecture's (and every file it writes to `python -m architecture validate`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from estate.model import Account, ApiKey, Estate, PhoneNumber, Service
from twilio_guardrails import urls

PROJECT: Final = "twilio-landing-zone"
USE_CASES: Final = (
    "notifications",
    "marketing",
    "verification",
    "discussion",
    "poll",
    "undeclared",
)
ENVIRONMENTS: Final = ("development", "staging", "production")
KEY_LENGTH: Final = 24  # a tenant key or key name: a lowercase slug of at most 24 characters
NAME_LENGTH: Final = 64  # friendly names
MAX_VALIDITY_PERIOD: Final = 36000
# Pulumi hands the program its whole config in one environment variable (128 KiB on Linux,
# architecture.loading.CONFIG_ENVIRONMENT_LIMIT): a larger estate is split into stack groups.
CONFIG_ENVIRONMENT_LIMIT: Final = 131_072 - len("PULUMI_CONFIG=") - 1
_PERMISSION: Final = re.compile(r"/twilio(/[a-z0-9][a-z0-9_-]*){2,}/(create|read|update|delete)")
_ALPHA_SENDER: Final = re.compile(r"[A-Za-z0-9 +\-_&]{1,11}")
_SHORT_CODE_SID: Final = re.compile(r"SC[0-9a-f]{32}")
_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")
METHODS: Final = ("GET", "POST")


# Resource names as architecture.identity derives them (the adopt map's keys).
def key_resource(tenant: str, name: str) -> str:
    return f"{tenant}-key-{name}"


def service_resource(tenant: str, use_case: str) -> str:
    return f"{tenant}-svc-{use_case}"


def number_resource(tenant: str, e164: str) -> str:
    return f"{tenant}-num-{e164.lstrip('+')}"


@dataclass(frozen=True)
class LeftOut:
    """One object the stack file does not declare, and why (the comment block)."""

    where: str  # "parent" or the tenant key / account name
    what: str  # "service 'Main messaging' MG…"
    reason: str

    def line(self) -> str:
        return f"{self.where}: {self.what}: {self.reason}"


@dataclass
class Discovery:
    tenants: list[dict[str, Any]] = field(default_factory=list)
    adopt: dict[str, str] = field(default_factory=dict)
    left_out: list[LeftOut] = field(default_factory=list)
    # Tenant key -> its resources' entries of `adopt`, so a group's map is built in its size.
    adopt_of: dict[str, dict[str, str]] = field(default_factory=dict)

    def adopts(self, tenant_key: str, resource: str, sid: str) -> None:
        self.adopt[resource] = sid
        self.adopt_of.setdefault(tenant_key, {})[resource] = sid

    def counts(self) -> str:
        kinds = {"tenants": 0, "api keys": 0, "services": 0, "numbers": 0}
        keys = {tenant["key"] for tenant in self.tenants}
        for name in self.adopt:
            if name in keys:
                kinds["tenants"] += 1
            elif "-key-" in name:
                kinds["api keys"] += 1
            elif "-svc-" in name:
                kinds["services"] += 1
            else:
                kinds["numbers"] += 1
        return ", ".join(f"{count} {kind}" for kind, count in kinds.items()) + " adopted"

    def architecture(self, tenants: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        chosen = self.tenants if tenants is None else tenants
        used = {tenant["environment"] for tenant in chosen}
        return {
            # Direct: every tenant a business unit, whatever its environment; the ISV rules
            # (one shared subaccount per non-production environment) rarely hold as found.
            "style": "direct",
            "environments": [env for env in ENVIRONMENTS if env in used],
            "tenants": chosen,
            "adopt": {
                name: sid
                for tenant in chosen
                for name, sid in self.adopt_of.get(tenant["key"], {}).items()
            },
        }


def slug(text: str, fallback: str) -> str:
    """A lowercase slug of at most 24 characters, starting with a letter."""
    value = _NOT_SLUG.sub("-", text.lower()).strip("-")
    if not value or not value[0].isalpha():
        value = f"{fallback}-{value}".strip("-")
    return value[:KEY_LENGTH].rstrip("-")


def unique(base: str, taken: set[str]) -> str:
    candidate, counter = base, 2
    while candidate in taken:
        suffix = f"-{counter}"
        candidate = base[: KEY_LENGTH - len(suffix)].rstrip("-") + suffix
        counter += 1
    taken.add(candidate)
    return candidate


def discover(estate: Estate) -> Discovery:
    found = Discovery()
    _parent(estate.parent, found)
    taken = {"parent"}  # reserved: the parent is never a tenant
    for account in estate.subaccounts:
        tenant = _tenant(account, taken, found)
        if tenant is not None:
            found.tenants.append(tenant)
    return found


def _parent(parent: Account, found: Discovery) -> None:
    move = (
        "the parent never sends, so the stack file declares nothing on it; to move it into a "
        "tenant, list it in that tenant's service, its SID under `adopt:` as "
        '<tenant>-num-{digits}: {sid}, and `transfers: {{"{number}": parent}}` '
        "(`pulumi up` moves it with Twilio's number transfer: same number, same SID)"
    )
    for service in parent.services:
        if not service.is_default:
            found.left_out.append(
                LeftOut(
                    "parent",
                    f"service '{service.friendly_name}' {service.sid}",
                    "on the parent: declare a service for its use case in a tenant, move its "
                    "numbers there, then delete it",
                )
            )
    for number in parent.numbers:
        reason = move.format(
            digits=number.phone_number.lstrip("+"), sid=number.sid, number=number.phone_number
        )
        found.left_out.append(
            LeftOut("parent", f"number {number.phone_number} {number.sid}", reason)
        )
    for key in parent.keys:
        found.left_out.append(
            LeftOut(
                "parent",
                f"API key '{key.friendly_name}' {key.sid}",
                "on the parent: apps get keys in their tenant's subaccount",
            )
        )


def _tenant(account: Account, taken: set[str], found: Discovery) -> dict[str, Any] | None:
    label = f"account '{account.friendly_name}' {account.sid}"
    if account.status != "active":
        found.left_out.append(LeftOut("estate", label, f"{account.status}: only active ones"))
        return None
    if account.unreadable:
        found.left_out.append(LeftOut("estate", label, f"not readable: {account.unreadable}"))
        return None
    display = " ".join(account.friendly_name.split())
    if not display or len(display) > NAME_LENGTH or display != account.friendly_name:
        found.left_out.append(
            LeftOut("estate", label, "its name is empty, too long or not trimmed; rename it")
        )
        return None
    key = unique(slug(display, "tenant"), taken)
    tenant: dict[str, Any] = {"key": key, "display_name": display}
    tenant["environment"] = account.environment
    found.adopts(key, key, account.sid)
    key_names: set[str] = set()
    api_keys = [k for k in (_api_key(key, item, key_names, found) for item in account.keys) if k]
    if api_keys:
        tenant["api_keys"] = api_keys
    services = _services(key, account, found)
    if services:
        tenant["services"] = services
    pooled = {s.sid for service in account.services for s in service.senders}
    for number in account.numbers:
        if number.sid not in pooled:
            found.left_out.append(
                LeftOut(
                    key,
                    f"number {number.phone_number} {number.sid}",
                    "in no service: the model declares numbers as senders of a service; "
                    "list it in one (with its SID under `adopt:`) to manage it",
                )
            )
    return tenant


def _api_key(
    tenant_key: str, key: ApiKey, taken: set[str], found: Discovery
) -> dict[str, Any] | None:
    label = f"API key '{key.friendly_name}' {key.sid}"
    bad = [p for p in key.permissions if not _PERMISSION.fullmatch(p)]
    human = " ".join(key.friendly_name.split())
    if bad or (key.kind == "restricted" and not key.permissions):
        found.left_out.append(LeftOut(tenant_key, label, f"permissions the model refuses: {bad}"))
        return None
    if not human or len(human) > NAME_LENGTH or human != key.friendly_name:
        found.left_out.append(
            LeftOut(tenant_key, label, "its name is empty, too long or untrimmed")
        )
        return None
    name = unique(slug(human, "key"), taken)
    declared: dict[str, Any] = {"name": name, "kind": key.kind}
    if key.kind == "restricted":
        declared["permissions"] = sorted(set(key.permissions))
    declared["friendly_name"] = human
    found.adopts(tenant_key, key_resource(tenant_key, name), key.sid)
    return declared


def _services(tenant_key: str, account: Account, found: Discovery) -> list[dict[str, Any]]:
    numbers = {number.sid: number for number in account.numbers}
    declared: dict[str, dict[str, Any]] = {}
    for service in account.services:
        if service.is_default:
            continue  # Twilio's own, one per account: the landing zone's delivery tracking
        label = f"service '{service.friendly_name}' {service.sid}"
        use_case = service.usecase if service.usecase in USE_CASES else None
        if use_case is None:
            reason = f"use case {service.usecase!r} is not one the model knows ({USE_CASES})"
            found.left_out.append(LeftOut(tenant_key, label, reason))
            continue
        if use_case in declared:
            first = declared[use_case]["friendly_name"]
            found.left_out.append(
                LeftOut(
                    tenant_key,
                    label,
                    f"a second service for {use_case!r} beside '{first}': the model allows one "
                    "per use case; move its senders to the first and delete it, or give it "
                    "another use case in Twilio",
                )
            )
            continue
        problem = _service_problem(service, numbers)
        if problem:
            found.left_out.append(LeftOut(tenant_key, label, problem))
            continue
        declared[use_case] = _service(service, numbers)
        found.adopts(tenant_key, service_resource(tenant_key, use_case), service.sid)
        for number in (
            declared[use_case].get("senders", {}).get("phone_numbers", {}).get("numbers", ())
        ):
            sid = next(s.sid for s in service.senders if s.address == number)
            found.adopts(tenant_key, number_resource(tenant_key, number), sid)
    return list(declared.values())


def _url_problem(url: str | None) -> str | None:
    if not url:
        return None
    problem = urls.problem(url, loopback_allowed=True)
    # Plain http is kept as found on an adopted object (the audit reports it).
    return None if problem in (None, urls.NOT_HTTPS) else f"{url!r} {problem}"


def _service_problem(service: Service, numbers: dict[str, PhoneNumber]) -> str | None:
    settings = service.settings
    name = " ".join(service.friendly_name.split())
    if not name or len(name) > NAME_LENGTH or name != service.friendly_name:
        return "its name is empty, too long or not trimmed; rename it"
    for setting in ("inbound_request_url", "fallback_url", "status_callback"):
        problem = _url_problem(settings.get(setting))
        if problem:
            return f"{setting} {problem}, which the model refuses"
    validity = settings.get("validity_period")
    if validity is not None and not 1 <= int(validity) <= MAX_VALIDITY_PERIOD:
        return f"validity_period {validity} is outside 1-{MAX_VALIDITY_PERIOD}"
    pooled = [numbers.get(s.sid) for s in service.senders if s.kind == "phone_number"]
    if any(number is None for number in pooled):
        return "a number in its pool is not among the account's numbers"
    hooks = {_number_hooks(number) for number in pooled if number is not None}
    if len(hooks) > 1:
        return (
            "its numbers have different SMS webhooks; the model gives one set per service "
            "(align them in Twilio, or split the service)"
        )
    for number in pooled:
        if number is not None and not _E164.fullmatch(number.phone_number):
            return f"number {number.phone_number} is not E.164"
        if number is not None:
            for url in (number.sms_url, number.sms_fallback_url):
                problem = _url_problem(url)
                if problem:
                    return f"number {number.phone_number}: {problem}, which the model refuses"
    for sender in service.senders:
        if sender.kind == "short_code" and not _SHORT_CODE_SID.fullmatch(sender.sid):
            return f"short code {sender.sid} has no SC SID"
        if sender.kind == "alpha_sender" and not _ALPHA_SENDER.fullmatch(sender.address):
            return f"alpha sender {sender.address!r} is not one the model accepts"
    if len(service.senders) > 400:
        return f"{len(service.senders)} senders; the model allows 400 per service"
    return None


def _number_hooks(number: PhoneNumber) -> tuple[Any, ...]:
    return (number.sms_url, number.sms_method, number.sms_fallback_url, number.sms_fallback_method)


def _method(value: Any) -> str:
    method = str(value or "POST").upper()
    return method if method in METHODS else "POST"


def _service(service: Service, numbers: dict[str, PhoneNumber]) -> dict[str, Any]:
    settings = service.settings
    declared: dict[str, Any] = {
        "use_case": service.usecase,
        "friendly_name": service.friendly_name,
    }
    for name in (
        "sticky_sender",
        "area_code_geomatch",
        "smart_encoding",
        "mms_converter",
        "fallback_to_long_code",
    ):
        declared[name] = bool(settings.get(name))
    declared["scan_message_content"] = settings.get("scan_message_content") or "inherit"
    declared["validity_period"] = int(settings.get("validity_period") or MAX_VALIDITY_PERIOD)
    declared["synchronous_validation"] = bool(settings.get("synchronous_validation"))
    declared["use_inbound_webhook_on_number"] = bool(settings.get("use_inbound_webhook_on_number"))
    webhooks: dict[str, Any] = {}
    for url, method in (
        ("inbound_request_url", "inbound_method"),
        ("fallback_url", "fallback_method"),
    ):
        if settings.get(url):
            webhooks[url] = settings[url]
        webhooks[method] = _method(settings.get(method))
    if settings.get("status_callback"):
        webhooks["status_callback"] = settings["status_callback"]
    declared["webhooks"] = webhooks
    senders: dict[str, Any] = {}
    pooled = [numbers[s.sid] for s in service.senders if s.kind == "phone_number"]
    if pooled:
        first = pooled[0]
        sms: dict[str, Any] = {}
        if first.sms_url:
            sms["sms_url"] = first.sms_url
        sms["sms_method"] = _method(first.sms_method)
        if first.sms_fallback_url:
            sms["sms_fallback_url"] = first.sms_fallback_url
        sms["sms_fallback_method"] = _method(first.sms_fallback_method)
        senders["phone_numbers"] = {
            "numbers": sorted(number.phone_number for number in pooled),
            "sms_webhooks": sms,
        }
    short_codes = sorted(s.sid for s in service.senders if s.kind == "short_code")
    alpha = sorted(s.address for s in service.senders if s.kind == "alpha_sender")
    if short_codes:
        senders["short_codes"] = short_codes
    if alpha:
        senders["alpha_senders"] = alpha
    if senders:
        declared["senders"] = senders
    return declared


def config_size(architecture: dict[str, Any]) -> int:
    """Bytes of PULUMI_CONFIG for a stack holding this architecture (as
    architecture.loading.config_environment_size counts them)."""
    return len(json.dumps({f"{PROJECT}:architecture": json.dumps(architecture)}).encode())


def _escaped_length(value: Any) -> int:
    """Bytes `value` takes inside PULUMI_CONFIG: JSON text, itself written as a JSON string."""
    return len(json.dumps(json.dumps(value))) - 2


def groups(found: Discovery) -> list[list[dict[str, Any]]]:
    """The tenants in groups whose config fits what Pulumi can hand the program (one group
    when the whole estate fits), a tenth of the limit left for the edits that follow: filled
    by each tenant's share (its entry and its adopt entries, escaped as Pulumi passes them),
    then checked exactly."""
    budget = CONFIG_ENVIRONMENT_LIMIT * 9 // 10
    result: list[list[dict[str, Any]]] = [[]]
    used = config_size(found.architecture([]))
    for tenant in found.tenants:
        entries = found.adopt_of.get(tenant["key"], {})
        size = _escaped_length(tenant) + _escaped_length(entries) + 2
        if result[-1] and used + size > budget:
            result.append([])
            used = config_size(found.architecture([]))
        result[-1].append(tenant)
        used += size
    for group in result:
        if config_size(found.architecture(group)) > CONFIG_ENVIRONMENT_LIMIT:
            keys = ", ".join(tenant["key"] for tenant in group[:3])
            raise ValueError(
                f"tenant {keys} alone is over the {CONFIG_ENVIRONMENT_LIMIT:,} bytes of config "
                "Pulumi can hand a program: too many numbers or keys for one stack file"
            )
    return result
