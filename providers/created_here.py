"""What this provider process created itself in this run, as opposed to found and adopted.

A look-up can only come back empty inside something we have just created: a subaccount made a
second ago holds none of our tagged keys, services or numbers; a service made a second ago has
no senders; a number bought a second ago is in no service. Providers skip those look-ups, which
were most of an estate's Twilio calls (bench/estate.py: 37 -> 16 calls per customer, with
numbers bought by area code and the token taken from the subaccount's create answer).

Why that is safe: every run of the engine starts a new provider process, so this set starts
empty and an object left by an earlier or killed run is never in it; it is found and adopted
as before. Within a run, each object is created by one resource, once; a create whose answer
was lost still looks before trying again (identity.create_once), and whatever was adopted
rather than created is never added.
"""

from __future__ import annotations

import threading


class CreatedHere:
    def __init__(self) -> None:
        self._sids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, sid: str) -> None:
        with self._lock:
            self._sids.add(sid)

    def __contains__(self, sid: object) -> bool:
        with self._lock:
            return sid in self._sids

    def forget_all(self) -> None:
        """As a new provider process starts: for tests that play several runs in one process."""
        with self._lock:
            self._sids.clear()


CREATED_HERE = CreatedHere()
