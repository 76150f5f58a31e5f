"""Send sample messages through every Messaging Service of a deployed stack, the way the
tenant's own application would: with the tenant's exported API key, not the parent's token.

Run by `make demo` after `pulumi up` (the Makefile's environment selects the stack's backend
and passphrase). Prints one line per message with its final status.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from twilio.base.exceptions import TwilioException, TwilioRestException

from providers.client import build_client
from providers.credentials import resolve_parent_credentials

FINAL = {"delivered", "undelivered", "failed"}
# Twilio's magic test destination numbers are not special here: any E.164 number is accepted.
RECIPIENTS = ("+14155550123", "+13125550134", "+12125550145", "+16175550156")


def stack_outputs(stack: str) -> dict:
    completed = subprocess.run(
        ["pulumi", "stack", "output", "--stack", stack, "--json", "--show-secrets"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--per-service", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    emulator_url = resolve_parent_credentials({}, os.environ).emulator_url
    outputs = stack_outputs(args.stack)
    sent = []
    for tenant_key, tenant in sorted(outputs["tenants"].items()):
        key_name, key_sid = sorted(tenant["api_key_sids"].items())[0]
        secret = outputs["api_key_secrets"][tenant_key][key_name]
        app = build_client(key_sid, secret, tenant["subaccount_sid"], emulator_url=emulator_url)
        for use_case, service_sid in sorted(tenant["service_sids"].items()):
            for index in range(args.per_service):
                message = app.messages.create(
                    to=RECIPIENTS[index % len(RECIPIENTS)],
                    messaging_service_sid=service_sid,
                    body=f"{use_case} sample {index + 1} from {tenant_key}",
                )
                sent.append((tenant_key, use_case, app, message.sid))
    print(f"sent {len(sent)} messages with the tenants' own API keys; waiting for delivery...")

    deadline = time.monotonic() + args.timeout
    pending = list(sent)
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
        pending = [m for m in pending if m[2].messages(m[3]).fetch().status not in FINAL]
    for tenant_key, use_case, app, sid in sent:
        print(f"  {tenant_key:<16} {use_case:<14} {sid}  {app.messages(sid).fetch().status}")
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
            f"Twilio refused a sample message (HTTP {error.status}, code {error.code}): "
            f"{error.msg}"
        )
    if isinstance(error, subprocess.CalledProcessError):
        last = (error.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return f"'pulumi stack output' failed: {last[0]}"
    return (
        f"the emulator did not answer ({error}): is it running? 'make demo' starts it again."
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (TwilioRestException, TwilioException, subprocess.CalledProcessError) as failure:
        print(f"send_sample_traffic: {explain(failure)}", file=sys.stderr)
        sys.exit(1)
    except OSError as failure:  # requests' connection errors are OSErrors
        print(f"send_sample_traffic: {explain(failure)}", file=sys.stderr)
        sys.exit(1)
