"""Find-and-adopt: how a create that may already have happened avoids making a twin, without
ever taking what another Pulumi state manages.

Every object we create carries its identity tag in its FriendlyName (identity_tags),
and the mark of the state that created it (`[tlz:<tag>:<state mark>]`). A create first looks
for its tag. What it finds is adopted only when the evidence says an interrupted run of this
same state left it: it carries this state's mark and was created within the recovery window
(`TLZ_RECOVERY_WINDOW_S`, default one hour), or an operator named its SID in `TLZ_ADOPT`.
Anything else stops the create, having changed nothing, with one line naming the object, its
age and the two ways forward.

After a create whose answer was lost (and only then, so the normal path keeps its speed), the
look for the tag goes on for `TLZ_LOST_ANSWER_WINDOW_S` (default 10 s), as Twilio's lists
lag behind its writes, before the create is tried again. A create tried again after a lost
answer may still leave a twin (Twilio's lists can lag longer than the window): it records
when, in its `lost_answer_at` output. The next `pulumi up` or preview looks (the diff, one
list) for an object with its tag and this state's mark under another SID; one there makes the
diff an update, which removes it and clears the output. `pulumi refresh` removes it too. Only
those resources are looked at again, for the recovery window at most; a run without lost
answers lists nothing more.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from identity_tags import parse_state_mark, parse_tag
from providers.created_here import CREATED_HERE
from providers.errors import TwilioResourceError, is_not_found, twilio_failures
from twilio_access.consistency import SETTLE_SECONDS
from twilio_access.outcomes import UnknownOutcomeError

T = TypeVar("T")


class HasSid(Protocol):
    sid: str


# What a create call returns: a Twilio record (its SID is recorded as made here).
Made = TypeVar("Made", bound=HasSid)

# How many times a create whose outcome was lost is looked up and tried again.
CREATE_ATTEMPTS = 4

RECOVERY_WINDOW_ENV = "TLZ_RECOVERY_WINDOW_S"
DEFAULT_RECOVERY_WINDOW_S = 3600.0
LOST_ANSWER_WINDOW_ENV = "TLZ_LOST_ANSWER_WINDOW_S"
DEFAULT_LOST_ANSWER_WINDOW_S = 10.0
ADOPT_ENV = "TLZ_ADOPT"
# Output of a resource whose create was tried again after a lost answer: when (epoch seconds).
LOST_ANSWER_OUTPUT = "lost_answer_at"


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return max(0.0, value)


def recovery_window() -> float:
    return _seconds(RECOVERY_WINDOW_ENV, DEFAULT_RECOVERY_WINDOW_S)


def lost_answer_window() -> float:
    return _seconds(LOST_ANSWER_WINDOW_ENV, DEFAULT_LOST_ANSWER_WINDOW_S)


def adopt_by_sid() -> frozenset[str]:
    """SIDs an operator asked this run to adopt whatever state made them (`TLZ_ADOPT`)."""
    return frozenset(s.strip() for s in os.environ.get(ADOPT_ENV, "").split(",") if s.strip())


def tagged(records: Iterable[T], tag: str, name_of: Callable[[T], str | None]) -> list[T]:
    return [record for record in records if parse_tag(name_of(record)) == tag]


def age_seconds(created: datetime | None, now: float | None = None) -> float | None:
    if created is None:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return max(0.0, (now if now is not None else time.time()) - created.timestamp())


def describe_age(seconds: float | None) -> str:
    if seconds is None:
        return "of unknown age"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"created {seconds / size:.0f} {unit} ago"
    return f"created {seconds:.0f} s ago"


@dataclass(frozen=True)
class Found:
    """One object carrying our tag, as a list answered it."""

    record: Any
    sid: str
    friendly_name: str
    created: datetime | None

    @classmethod
    def of(cls, record: Any) -> Found:
        return cls(record, record.sid, record.friendly_name or "", record.date_created)


class ForeignObjectError(TwilioResourceError):
    """Twilio holds an object with this resource's tag that this state cannot prove it made."""


@dataclass(frozen=True)
class Verdict:
    adopt: Found | None  # the one to adopt, if any
    twins: tuple[Found, ...]  # more of ours: left by the same interrupted run, to remove


def judge(
    found: Sequence[Found],
    *,
    kind: str,
    name: str,
    state_mark: str | None,
    now: float | None = None,
    what_adopting_means: str = "",
) -> Verdict:
    """Decide what a create may do with the objects carrying its tag: adopt the oldest that
    an interrupted run of this state left (the rest are its twins), or refuse."""
    if not found:
        return Verdict(None, ())
    explicit = adopt_by_sid()
    window = recovery_window()
    ours, foreign = [], []
    for item in found:
        age = age_seconds(item.created, now)
        same_state = state_mark is not None and parse_state_mark(item.friendly_name) == state_mark
        if item.sid in explicit or (same_state and age is not None and age <= window):
            ours.append(item)
        else:
            foreign.append(item)
    if foreign:
        raise refusal(kind, name, foreign[0], state_mark, now, window, what_adopting_means)
    ours.sort(key=lambda item: (item.sid not in explicit, item.created or datetime.max))
    return Verdict(ours[0], tuple(ours[1:]))


def refusal(
    kind: str,
    name: str,
    item: Found,
    state_mark: str | None,
    now: float | None,
    window: float,
    what_adopting_means: str = "",
) -> ForeignObjectError:
    age = describe_age(age_seconds(item.created, now))
    mark = parse_state_mark(item.friendly_name)
    made_by = (
        "this state, longer ago than the recovery window allows"
        if state_mark is not None and mark == state_mark
        else "another Pulumi state"
    )
    return ForeignObjectError(
        kind,
        name,
        f"Twilio already holds {item.sid} '{item.friendly_name}' with this resource's identity "
        f"tag, {age} by {made_by} (adopted only from an interrupted run of this state "
        f"within {window / 60:.0f} min); nothing was changed. Either run this stack with the state "
        "that manages it (same backend and stack), or adopt it explicitly by SID: "
        f"{ADOPT_ENV}={item.sid} pulumi up{what_adopting_means}.",
    )


@dataclass(frozen=True)
class Outcome:
    """What `create_once` got: the object, whether it was adopted, the twins it removed, and
    whether a create was tried again after a lost answer whose object never showed up in the
    window (then it may show up later: a twin)."""

    record: Any
    adopted: bool
    removed: list[str]
    tried_again: bool


def create_once(
    find: Callable[[], Sequence[Found]],
    create: Callable[[], Made],
    *,
    kind: str,
    name: str,
    state_mark: str | None,
    remove_twin: Callable[[Found], bool] | None = None,
    inside: str | None = None,
) -> Outcome:
    """Adopt what `find` returns (when `judge` allows it), else `create`. A create whose answer
    was lost is followed by looks for the tag, for the lost-answer window, before trying
    again.

    `inside`: the SID of the subaccount or service the object lives in. When this process
    created that container itself, nothing of ours can be in it yet, so the first look is
    skipped (see providers/created_here.py). What is created is recorded the same way."""
    removed: list[str] = []

    def adopt_from(items: Sequence[Found]):
        verdict = judge(items, kind=kind, name=name, state_mark=state_mark)
        if verdict.adopt is None:
            return None
        for twin in verdict.twins:
            if remove_twin is not None and remove_twin(twin):
                removed.append(twin.sid)
        return verdict.adopt.record

    if inside is None or inside not in CREATED_HERE:
        adopted = adopt_from(find())
        if adopted is not None:
            return Outcome(adopted, True, removed, False)
    for attempt in range(CREATE_ATTEMPTS):
        last = attempt + 1 == CREATE_ATTEMPTS
        try:
            created = create()
            CREATED_HERE.add(created.sid)
            # Tried again only after a look that found nothing: that object may show up later.
            return Outcome(created, False, removed, attempt > 0)
        except UnknownOutcomeError:
            # The answer was lost: the object may exist, and Twilio's lists may not show it
            # yet. After the last attempt, look for longer (final_look_window).
            adopted = wait_for(find, adopt_from, final_look_window() if last else None)
            if adopted is not None:
                return Outcome(adopted, True, removed, attempt > 0)
            if last:
                raise
    raise AssertionError("unreachable")


def final_look_window() -> float:
    """How long a create looks for its object after its last attempt also lost its answer.

    By then every attempt may have made an object (each a twin of the others), and failing
    stops the whole run: the next run then makes the creates this one never started, each
    of which may lose its answer in turn. So the look covers as many windows as there were
    attempts: the first attempt's object, older by then than every window spent since, shows
    up wherever Twilio's lists lag less than that, and is adopted (the others removed as
    twins, now or by the next run's sweep). Only ever spent after CREATE_ATTEMPTS lost
    answers in a row."""
    return lost_answer_window() * CREATE_ATTEMPTS


def listing_window() -> float:
    """How long to wait for a list to show an object just made (`once_listed`): as long as a
    read of a new object is waited out (twilio_access.consistency), or the longer look when
    that is longer. Only the lag is spent: the wait ends as soon as the object shows."""
    return max(SETTLE_SECONDS, final_look_window())


def wait_for(
    find: Callable[[], Sequence[Found]],
    accept: Callable[[Sequence[Found]], T | None],
    window: float | None = None,
) -> T | None:
    """Look again and again (backing off) until `accept` takes what `find` returns, or the
    lost-answer window has passed."""
    deadline = time.monotonic() + (lost_answer_window() if window is None else window)
    delay = 0.2
    while True:
        result = accept(find())
        if result is not None or time.monotonic() >= deadline:
            return result
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 2.0)


def sweep_twins(
    find: Callable[[], Sequence[Found]],
    keep_sid: str,
    state_mark: str | None,
    remove: Callable[[Found], bool],
    dry_run: bool = False,
) -> list[str]:
    """What refresh does for an object made recently: other objects with its tag and this
    state's mark are twins that a lost answer left behind (the state holds `keep_sid`), so
    they are removed; their SIDs are returned. Another state's objects are never touched.
    `dry_run`: only look (a diff, which also runs in previews): the SIDs there are to remove."""
    if state_mark is None:
        return []
    removed = []
    for item in find():
        twin = item.sid != keep_sid and parse_state_mark(item.friendly_name) == state_mark
        if twin and (dry_run or remove(item)):
            removed.append(item.sid)
    return removed


def once_listed(
    find: Callable[[], Sequence[Found]], own_sid: str, window: float
) -> Sequence[Found] | None:
    """What the list shows once it shows the object just made (`own_sid`), or None when it
    did not within `window`. Lists lag by how long ago an object was made, so a list that
    shows it also shows whatever lost answers made before it: a look that cannot miss them."""
    return wait_for(
        find, lambda found: found if any(f.sid == own_sid for f in found) else None, window
    )


def this_states_leftovers(
    found: Sequence[Found], keep_sid: str, state_mark: str | None, now: float | None = None
) -> list[Found]:
    """The objects with a tag that this state provably made and does not keep: its mark,
    made within the recovery window (as `judge` adopts), another SID. Anything else that
    carries the tag is left alone: a tag match alone never removes another state's object."""
    if state_mark is None:
        return []
    window = recovery_window()
    return [
        item
        for item in found
        if item.sid != keep_sid
        and parse_state_mark(item.friendly_name) == state_mark
        and (age := age_seconds(item.created, now)) is not None
        and age <= window
    ]


def removing(call: Callable[[], object]) -> bool:
    """Remove a twin: True once it is gone. A DELETE whose answer was lost is sent again and
    then answers 404: it is gone all the same."""
    try:
        call()
    except twilio_failures() as error:
        if not is_not_found(error):
            raise
    return True


def made_recently(props: dict[str, Any]) -> bool:
    """Created by us within the recovery window (its `created_at` output), or created after a
    lost answer (`lost_answer_at`) and not swept since: only then can a lost answer have left
    a twin of it."""
    created_at = float(props.get("created_at") or 0)
    return sweep_due(props) or time.time() - created_at <= recovery_window()


def sweep_due(props: dict[str, Any]) -> bool:
    """The create was tried again after a lost answer, and no sweep has cleared that since."""
    return bool(props.get(LOST_ANSWER_OUTPUT))


def still_looking(props: dict[str, Any], now: float | None = None) -> bool:
    """A lost answer's object may still show up: within the recovery window of the moment
    the create was tried again. After that, a diff stops looking for it."""
    moment = float(props.get(LOST_ANSWER_OUTPUT) or 0)
    return sweep_due(props) and (time.time() if now is None else now) - moment <= recovery_window()


def lost_answer_settled(props: dict[str, Any], now: float | None = None) -> bool:
    """The lost-answer window has passed since the last create attempt: what that attempt
    may have made now shows in Twilio's lists, so one sweep sees every twin."""
    moment = float(props.get(LOST_ANSWER_OUTPUT) or 0)
    return (time.time() if now is None else now) >= moment + lost_answer_window()


def wait_until_settled(props: dict[str, Any]) -> None:
    """Before sweeping for a resource created after a lost answer moments ago (an `up` right
    after the one that lost it): wait out the rest of the lost-answer window."""
    moment = float(props.get(LOST_ANSWER_OUTPUT) or 0)
    remaining = moment + lost_answer_window() - time.time()
    if remaining > 0:
        time.sleep(min(remaining, lost_answer_window()))


def lost_answer_record(tried_again: bool) -> dict[str, float]:
    """Outputs a create adds when it was tried again after a lost answer."""
    return {LOST_ANSWER_OUTPUT: time.time()} if tried_again else {}


def removal_record(removed: list[str]) -> dict[str, Any]:
    """The `removed_twins` output: which SIDs were removed, and when (the program names them
    in the output of the run that removed them only)."""
    return {"sids": sorted(removed), "at": time.time()}
