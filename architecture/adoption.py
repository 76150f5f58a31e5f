"""The rules of the stack file's `adopt` and `transfers` maps (architecture.model's
Architecture calls them): which resources may adopt what, that one object has one manager,
that a transfer moves an adopted number from an existing account, and which of a tenant's
rules accept an adopted object as Twilio holds it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from architecture import identity
from architecture.rulebook import Violation

if TYPE_CHECKING:
    from architecture.model import Tenant

PARENT: Final = "parent"
_SID_PREFIX: Final = {"an account": "AC", "an API key": "SK", "a service": "MG", "a number": "PN"}


def adoptable_names(tenants: Sequence[Tenant]) -> Iterator[tuple[str, str]]:
    """(resource name, kind) of every resource that may adopt an existing object."""
    for tenant in tenants:
        yield identity.account_logical_name(tenant.key), "an account"
        for key in tenant.api_keys:
            yield identity.api_key_logical_name(tenant.key, key.name), "an API key"
        for service in tenant.services:
            yield identity.service_logical_name(tenant.key, service.use_case), "a service"
            numbers = service.senders.phone_numbers
            if numbers is not None:
                for number in numbers.numbers:
                    yield identity.exact_number_logical_name(tenant.key, number), "a number"


def adopt_names_an_adoptable_resource(
    tenants: Sequence[Tenant], adopt: Mapping[str, str]
) -> Iterator[Violation]:
    kinds = dict(adoptable_names(tenants))
    for name, sid in adopt.items():
        kind = kinds.get(name)
        if kind is None:
            yield Violation(
                ("adopt", name),
                f"{name!r} is not a resource of this stack that can adopt an object (a "
                "tenant key, <tenant>-key-<name>, <tenant>-svc-<use case> or "
                "<tenant>-num-<digits> of an exact number)",
                sid,
            )
        elif not sid.startswith(_SID_PREFIX[kind]):
            yield Violation(
                ("adopt", name),
                f"{sid!r} is not {kind} SID ({_SID_PREFIX[kind]}…), which {name!r} needs",
                sid,
            )


def adopt_each_object_once(adopt: Mapping[str, str]) -> Iterator[Violation]:
    # Two resources managing one object would fight over it (and delete it twice).
    first: dict[str, str] = {}
    for name, sid in adopt.items():
        if sid in first:
            yield Violation(
                ("adopt", name),
                f"the SID {sid} is already adopted by {first[sid]!r}; an object is managed "
                "by one resource only",
                sid,
            )
        else:
            first[sid] = name


def transfers_move_adopted_numbers(
    tenants: Sequence[Tenant], adopt: Mapping[str, str], transfers: Mapping[str, str]
) -> Iterator[Violation]:
    holders = {
        number: tenant
        for tenant in tenants
        for service in tenant.services
        if service.senders.phone_numbers is not None
        for number in service.senders.phone_numbers.numbers
    }
    keys = {tenant.key for tenant in tenants}
    for number, source in transfers.items():
        tenant = holders.get(number)
        where = ("transfers", number)
        if tenant is None or identity.exact_number_logical_name(tenant.key, number) not in adopt:
            yield Violation(
                where,
                f"{number!r} is not an adopted number of a tenant: list it in a service's "
                "numbers and its SID under adopt",
                source,
            )
        elif source == tenant.key:
            yield Violation(where, f"{number!r} is already in {source!r}", source)
        elif source in keys and source not in adopt:
            yield Violation(
                where,
                f"{source!r} is a tenant this stack creates; a number moves from an "
                "existing account: 'parent', an adopted tenant or an account SID",
                source,
            )
        elif not source.startswith("AC") and source != PARENT and source not in keys:
            yield Violation(
                where,
                f"{source!r} is neither 'parent', a tenant key of this stack nor an account SID",
                source,
            )


def accepted_as_found(
    tenants: Sequence[Tenant], adopt: Mapping[str, str], rule_name: str, where: tuple
) -> bool:
    """Whether a tenant rule's violation at `where` (from the architecture) concerns an
    adopted object that may stay as Twilio holds it: a standard key in production (until a
    rotation mints a managed one) or a production service without status callback. The
    audit and the policy pack still report both."""
    if len(where) < 4 or where[0] != "tenants" or not isinstance(where[1], int):
        return False
    tenant = tenants[where[1]]
    if rule_name == "production_keys_are_restricted" and where[2] == "api_keys":
        key = tenant.api_keys[int(where[3])]
        name = identity.api_key_logical_name(tenant.key, key.name)
        return name in adopt and key.rotation == 0
    if rule_name == "production_services_report_delivery_status" and where[2] == "services":
        service = tenant.services[int(where[3])]
        return identity.service_logical_name(tenant.key, service.use_case) in adopt
    return False
