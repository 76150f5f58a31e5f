"""SenderPool: the phone numbers, short codes and alpha senders of one Messaging Service.

One resource per service, not one per sender: it attaches and detaches its senders
concurrently inside one operation (the engine runs at most 4 provider operations at once per
stack), and reports each sender's status in its outputs so the diff stays readable.

Twilio allows a number or short code in one service only (21712). Before any write, the pool
finds where its senders are: in a service of this tenant (its tag is in `movable_from_tags`)
the sender is moved (detached there, then attached here), so the order in which two pools
update does not matter; anywhere else the update fails, naming both services.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field, field_validator
from twilio.base.exceptions import TwilioException

from identity_tags import parse_tag
from providers.base import TwilioProvider, declared
from providers.created_here import CREATED_HERE
from providers.errors import TwilioResourceError, twilio_code, unless_gone
from twilio_access.outcomes import UnknownOutcomeError

MAX_SENDERS = 400  # Twilio's default pool limit (21714)
ALREADY_IN_THIS_SERVICE = 21710
# Tries of an attach whose answer was lost (repeating one is harmless: 21710).
ATTACH_ATTEMPTS = 4
# Concurrent pool calls per operation; the transport also bounds requests per account.
POOL_WORKERS = 8


class SenderPoolInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account_key: str = Field(min_length=1)
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$")
    use_case: str = Field(min_length=1)
    service_sid: str = Field(pattern=r"^MG[0-9a-f]{32}$")
    phone_number_sids: list[str] = Field(default_factory=list)
    short_code_sids: list[str] = Field(default_factory=list)
    alpha_senders: list[str] = Field(default_factory=list)
    movable_from_tags: list[str] = Field(default_factory=list)

    @field_validator("phone_number_sids", "short_code_sids", "alpha_senders", "movable_from_tags")
    @classmethod
    def sorted_once(cls, values: list[str]) -> list[str]:
        """Order carries no meaning in a pool: sorted, so a reordered list is no change."""
        return sorted(set(values))


@dataclass(frozen=True)
class Sender:
    kind: str  # phone_number | short_code | alpha_sender
    key: str  # PN/SC SID, or the alpha sender text


ALL_KINDS = frozenset({"phone_number", "short_code", "alpha_sender"})


def managed_kinds(*declared: dict[str, Any] | SenderPoolInputs) -> frozenset[str]:
    """The kinds of sender a pool looks at: phone numbers always, short codes and alpha
    senders when declared now or before (so a removed one is still detached). Every kind is
    one list call, and most pools hold numbers only."""
    kinds = {"phone_number"}
    for props in declared:
        get = props.get if isinstance(props, dict) else lambda key, p=props: getattr(p, key)
        if get("short_code_sids"):
            kinds.add("short_code")
        if get("alpha_senders"):
            kinds.add("alpha_sender")
    return frozenset(kinds)


def desired_senders(inputs: SenderPoolInputs) -> set[Sender]:
    return (
        {Sender("phone_number", sid) for sid in inputs.phone_number_sids}
        | {Sender("short_code", sid) for sid in inputs.short_code_sids}
        | {Sender("alpha_sender", text) for text in inputs.alpha_senders}
    )


class Pool:
    """The pool API of one service, signed by its subaccount."""

    def __init__(self, client, service_sid: str) -> None:
        self.service = client.messaging.v1.services(service_sid)

    def members(self, kinds: frozenset[str] = ALL_KINDS) -> dict[Sender, str]:
        """Sender -> the member SID Twilio uses to detach it, for the kinds asked for (one
        Twilio list call per kind)."""
        members: dict[Sender, str] = {}
        if "phone_number" in kinds:
            members |= {
                Sender("phone_number", n.sid): n.sid for n in self.service.phone_numbers.list()
            }
        if "short_code" in kinds:
            members |= {Sender("short_code", c.sid): c.sid for c in self.service.short_codes.list()}
        if "alpha_sender" in kinds:
            members |= {
                Sender("alpha_sender", a.alpha_sender): a.sid
                for a in self.service.alpha_senders.list()
            }
        return members

    def attach(self, sender: Sender) -> str:
        # An attach whose answer was lost is simply sent again: a sender already in this
        # service answers 21710, which is success, so a repeat never makes a twin.
        for attempt in range(ATTACH_ATTEMPTS):
            try:
                if sender.kind == "phone_number":
                    self.service.phone_numbers.create(phone_number_sid=sender.key)
                elif sender.kind == "short_code":
                    self.service.short_codes.create(short_code_sid=sender.key)
                else:
                    self.service.alpha_senders.create(alpha_sender=sender.key)
            except UnknownOutcomeError:
                if attempt + 1 == ATTACH_ATTEMPTS:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            except TwilioException as error:
                if twilio_code(error) == ALREADY_IN_THIS_SERVICE:
                    return "already-attached"  # a retried attach: Twilio says it is there
                raise
            return "attached"
        raise AssertionError("unreachable")

    def detach(self, sender: Sender, member_sid: str) -> None:
        collection = {
            "phone_number": self.service.phone_numbers,
            "short_code": self.service.short_codes,
            "alpha_sender": self.service.alpha_senders,
        }[sender.kind]
        unless_gone(lambda: collection(member_sid).delete())


class SenderPoolProvider(TwilioProvider):
    kind = "SenderPool"
    inputs_model = SenderPoolInputs
    replace_on = frozenset({"account_sid", "service_sid"})
    # A pool's create and update both reconcile its senders; its delete detaches them.
    verbs = {"create": "update", "delete": "detach"}

    def label(self, props: dict[str, Any]) -> str:
        return _label(props)

    def extra_checks(self, inputs: dict[str, Any]):
        count = sum(
            len(inputs.get(field) or [])
            for field in ("phone_number_sids", "short_code_sids", "alpha_senders")
        )
        if count > MAX_SENDERS:
            yield (
                "phone_number_sids",
                f"SenderPool: {count} senders; a Messaging Service holds at most {MAX_SENDERS}",
            )

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = self.parse(props)
        statuses = self._reconcile(inputs, managed_kinds(inputs))
        return CreateResult(f"{inputs.service_sid}/pool", _outputs(inputs, statuses))

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        members = unless_gone(
            lambda: self.session.as_subaccount(
                props["account_sid"],
                lambda client: Pool(client, props["service_sid"]).members(managed_kinds(props)),
            )
        )
        if members is None:
            return ReadResult(None, {})
        outputs = declared(props)
        for field, kind in (
            ("phone_number_sids", "phone_number"),
            ("short_code_sids", "short_code"),
            ("alpha_senders", "alpha_sender"),
        ):
            outputs[field] = sorted(sender.key for sender in members if sender.kind == kind)
        return ReadResult(id, outputs)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = self.parse(news)
        statuses = self._reconcile(inputs, managed_kinds(olds, inputs))
        return UpdateResult(_outputs(inputs, statuses))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        inputs = self.parse(props)
        wanted = desired_senders(inputs)

        def detach_all(client):
            pool = Pool(client, inputs.service_sid)
            members = pool.members(managed_kinds(inputs))
            members = {s: m for s, m in members.items() if s in wanted}
            _run_concurrently(pool.detach, list(members.items()))

        unless_gone(lambda: self.session.as_subaccount(inputs.account_sid, detach_all))

    def _reconcile(self, inputs: SenderPoolInputs, kinds: frozenset[str]) -> dict[Sender, str]:
        """Make the service hold exactly the declared senders of the managed kinds;
        sender -> what happened."""
        desired = desired_senders(inputs)

        def work(client) -> dict[Sender, str]:
            pool = Pool(client, inputs.service_sid)
            # A service this process just created has no senders yet.
            members = {} if inputs.service_sid in CREATED_HERE else pool.members(kinds)
            extra = [(s, m) for s, m in members.items() if s not in desired]
            missing = [s for s in desired if s not in members]
            moves = self._locate(client, inputs, missing)  # raises before any write
            statuses = {s: "attached" for s in desired if s in members}
            # Detach first: moves free their sender in the other service before we attach.
            for source_pool, sender, member_sid in moves:
                source_pool.detach(sender, member_sid)
            _run_concurrently(pool.detach, extra)
            attached = _run_concurrently(pool.attach, missing)
            for sender, status in zip(missing, attached, strict=True):
                statuses[sender] = status
            for _, sender, _ in moves:
                statuses[sender] = "moved"
            return statuses

        return self.session.as_subaccount(inputs.account_sid, work)

    def _locate(self, client, inputs: SenderPoolInputs, missing: list[Sender]):
        """Where are the senders we are about to attach? Moves within this tenant; refuse
        anything held by a service outside this stack, before any write."""
        # A number this process just bought is in no service yet.
        exclusive = {s for s in missing if s.kind != "alpha_sender" and s.key not in CREATED_HERE}
        if not exclusive:
            return []
        kinds = frozenset(sender.kind for sender in exclusive)
        moves, conflicts = [], []
        for service in client.messaging.v1.services.list(page_size=1000):
            if service.sid == inputs.service_sid:
                continue
            other = Pool(client, service.sid)
            for sender, member_sid in other.members(kinds).items():
                if sender not in exclusive:
                    continue
                if parse_tag(service.friendly_name) in inputs.movable_from_tags:
                    moves.append((other, sender, member_sid))
                else:
                    conflicts.append(
                        f"{sender.key} is in '{service.friendly_name}' ({service.sid})"
                    )
        if conflicts:
            raise TwilioResourceError(
                self.kind,
                _label(inputs),
                "cannot attach to service "
                f"{inputs.service_sid}: " + "; ".join(conflicts) + ". A sender belongs to one "
                "Messaging Service only (21712), and that service is not part of this stack: "
                "remove the sender there, or remove it from this pool.",
                21712,
            )
        return moves


def _run_concurrently(function, items: list) -> list:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(POOL_WORKERS, len(items))) as executor:
        if isinstance(items[0], tuple):
            return list(executor.map(lambda item: function(*item), items))
        return list(executor.map(function, items))


def _outputs(inputs: SenderPoolInputs, statuses: dict[Sender, str]) -> dict[str, Any]:
    outputs = inputs.model_dump(mode="json")
    for field in ("phone_number_sids", "short_code_sids", "alpha_senders"):
        outputs[field] = sorted(outputs[field])
    outputs["senders"] = [
        {"kind": sender.kind, "sender": sender.key, "status": status}
        for sender, status in sorted(statuses.items(), key=lambda item: (item[0].kind, item[0].key))
    ]
    outputs["sender_count"] = len(statuses)
    return outputs


def _label(props) -> str:
    get = props.get if isinstance(props, dict) else lambda key: getattr(props, key)
    return f"{get('account_key')}/{get('use_case')}"


class SenderPool(Resource, module="twilio", name="SenderPool"):
    senders: pulumi.Output[list]
    sender_count: pulumi.Output[int]

    def __init__(
        self,
        resource_name: str,
        *,
        account_key: str,
        account_sid: pulumi.Input[str],
        use_case: str,
        service_sid: pulumi.Input[str],
        phone_number_sids: list[pulumi.Input[str]],
        short_code_sids: list[str],
        alpha_senders: list[str],
        movable_from_tags: list[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "account_key": account_key,
            "account_sid": account_sid,
            "use_case": use_case,
            "service_sid": service_sid,
            "phone_number_sids": phone_number_sids,
            "short_code_sids": sorted(short_code_sids),
            "alpha_senders": sorted(alpha_senders),
            "movable_from_tags": sorted(movable_from_tags),
            "senders": None,
            "sender_count": None,
        }
        super().__init__(SenderPoolProvider(), resource_name, props, opts)
