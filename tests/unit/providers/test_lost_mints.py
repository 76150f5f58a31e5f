"""What a resumed key mint deletes once the list shows its new key: only this state's objects
with the tag, made within the recovery window; never another state's, never an old one."""

from __future__ import annotations

from datetime import UTC, datetime

from providers.identity import Found, once_listed, this_states_leftovers

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC).timestamp()
MARK, OTHER_MARK = "5b1c0e", "a0a0a0"


def key(sid_digit: str, mark: str, minutes_ago: float) -> Found:
    created = datetime.fromtimestamp(NOW - minutes_ago * 60, tz=UTC)
    name = f"Acme backend [tlz:0123456789:{mark}]"
    return Found(None, "SK" + sid_digit * 32, name, created)


def test_only_this_states_recent_keys_other_than_the_new_one_are_leftovers() -> None:
    new, lost = key("1", MARK, 0), key("2", MARK, 0.1)
    theirs, old = key("3", OTHER_MARK, 0.1), key("4", MARK, 24 * 60)
    undated = Found(None, "SK" + "5" * 32, new.friendly_name, None)
    found = [new, lost, theirs, old, undated]
    assert this_states_leftovers(found, new.sid, MARK, now=NOW) == [lost]
    assert this_states_leftovers(found, new.sid, None, now=NOW) == []


def test_the_list_is_taken_once_it_shows_the_new_object() -> None:
    new, lost = key("1", MARK, 0), key("2", MARK, 0.1)
    answers = iter([[], [lost], [lost, new]])
    assert once_listed(lambda: next(answers), new.sid, window=5.0) == [lost, new]


def test_a_list_that_never_shows_it_gives_nothing() -> None:
    lost = key("2", MARK, 0.1)
    assert once_listed(lambda: [lost], "SK" + "1" * 32, window=0.0) is None
