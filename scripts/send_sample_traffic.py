"""Send sample messages through every Messaging Service of a deployed stack, the way the
tenant's own application would: with the tenant's exported API key, not the parent's token.

Run by `make demo` after `pulumi up` (the Makefile's environment selects the stack's backend
and passphrase). Prints one line per message with its final status, then the count of each.

`--seed N` makes the traffic reproducible: the same recipients and, on the local emulator,
the same outcomes (its delivery draws are seeded with N). So that a report always has
something to say, on the emulator one message is made to fail and one to go undelivered
(which ones, the seed decides); the others draw their outcome at the emulator's rates. Against
real Twilio the carriers decide, and the seed only picks the recipients.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException

from twilio_access.client import build_client
from twilio_access.credentials import resolve_parent_credentials

FINAL = {"delivered", "undelivered", "failed"}
# Twilio's magic test destination numbers are not special here: any E.164 number is accepted.
RECIPIENTS = ("+14155550123", "+13125550134", "+12125550145", "+16175550156")
# Emulator settings that make the next message fail / go undelivered, whatever the draw.
FORCED = {
    "failed": {"message_failed_rate": 1.0, "message_undelivered_rate": 0.0},
    "undelivered": {"message_failed_rate": 0.0, "message_undelivered_rate": 1.0},
}


def stack_outputs(stack: str) -> dict:
    completed = subprocess.run(
        ["pulumi", "stack", "output", "--stack", stack, "--json", "--show-secrets"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout)


class EmulatorFaults:
    """The emulator's admin API for delivery outcomes (`/_emulator/faults`)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/_emulator/faults"

    def post(self, changes: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(changes).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def current(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url, timeout=10) as answer:
            return json.loads(answer.read())


def plan_messages(outputs: dict, per_service: int, draw: random.Random) -> list[dict]:
    """Every message to send, in order, each with its recipient (seeded)."""
    planned = []
    for tenant_key, tenant in sorted(outputs["tenants"].items()):
        for use_case, service_sid in sorted(tenant["service_sids"].items()):
            for index in range(per_service):
                planned.append(
                    {
                        "tenant": tenant_key,
                        "use_case": use_case,
                        "service_sid": service_sid,
                        "to": draw.choice(RECIPIENTS),
                        "body": f"{use_case} sample {index + 1} from {tenant_key}",
                        "force": None,
                    }
                )
    return planned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--per-service", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, help="same seed, same traffic (and outcomes)")
    args = parser.parse_args(argv)

    credentials = resolve_parent_credentials({}, os.environ)
    emulator_url = credentials.emulator_url
    outputs = stack_outputs(args.stack)
    draw = random.Random(args.seed)
    planned = plan_messages(outputs, args.per_service, draw)
    faults = EmulatorFaults(emulator_url) if emulator_url and args.seed is not None else None
    if faults is not None and len(planned) >= 2:
        first, second = draw.sample(range(len(planned)), 2)
        planned[first]["force"], planned[second]["force"] = "failed", "undelivered"
        faults.post({"seed": args.seed})
    elif args.seed is not None:
        print("real Twilio: the seed picks the recipients; carriers decide the outcomes")

    apps = {}
    sent = []
    for message in planned:
        tenant = outputs["tenants"][message["tenant"]]
        if message["tenant"] not in apps:
            key_name, key_sid = sorted(tenant["api_key_sids"].items())[0]
            secret = outputs["api_key_secrets"][message["tenant"]][key_name]
            apps[message["tenant"]] = build_client(
                key_sid, secret, tenant["subaccount_sid"], emulator_url=emulator_url
            )
        app = apps[message["tenant"]]
        restore = None
        if faults is not None and message["force"]:
            settings = faults.current()
            restore = {name: settings[name] for name in FORCED[message["force"]]}
            faults.post(FORCED[message["force"]])
        try:
            created = app.messages.create(
                to=message["to"],
                messaging_service_sid=message["service_sid"],
                body=message["body"],
            )
        finally:
            if faults is not None and restore is not None:
                faults.post(restore)
        sent.append((message["tenant"], message["use_case"], app, created.sid))
    print(f"sent {len(sent)} messages with the tenants' own API keys; waiting for delivery...")

    deadline = time.monotonic() + args.timeout
    pending = list(sent)
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
        pending = [m for m in pending if m[2].messages(m[3]).fetch().status not in FINAL]
    outcomes: Counter[str] = Counter()
    for tenant_key, use_case, app, sid in sent:
        status = app.messages(sid).fetch().status
        outcomes[status] += 1
        print(f"  {tenant_key:<16} {use_case:<14} {sid}  {status}")
    print("outcomes: " + ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())))
    if pending:
        print(f"{len(pending)} messages had not reached a final status", file=sys.stderr)
        return 1
    return 0


def explain(error: Exception) -> str:
    """One line: what went wrong while sending, and what to do about it."""
    if isinstance(error, TwilioRestException) and error.status == 401:
        return (
            f"Twilio refused a tenant's API key (HTTP 401, code {error.code}): the stack's state "
            "and the Twilio it talks to disagree (another emulator, or its database was reset). "
            "Run 'make demo' again, which refreshes the state before sending."
        )
    if isinstance(error, TwilioRestException):
        return (
            f"Twilio refused a sample message (HTTP {error.status}, code {error.code}): {error.msg}"
        )
    if isinstance(error, subprocess.CalledProcessError):
        last = (error.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return f"'pulumi stack output' failed: {last[0]}"
    return f"the emulator did not answer ({error}): is it running? 'make demo' starts it again."


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (TwilioRestException, TwilioException, subprocess.CalledProcessError) as failure:
        print(f"send_sample_traffic: {explain(failure)}", file=sys.stderr)
        sys.exit(1)
    except OSError as failure:  # requests' connection errors are OSErrors
        print(f"send_sample_traffic: {explain(failure)}", file=sys.stderr)
        sys.exit(1)
