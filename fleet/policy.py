"""The pack's own check of a policy config file (`twilio_guardrails.config_file`), called
before the CLI as `scripts/policy-check` does: a typo, a weakened mandatory-everywhere rule,
`exceptions` or ESC `environments` would otherwise pass the CLI without a word."""

from __future__ import annotations

import sys
from pathlib import Path

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def check_policy_config(path: Path) -> list[str]:
    """One line per problem (`FILE: key: what is wrong`); empty when the file is fine."""
    if str(POLICIES) not in sys.path:
        sys.path.append(str(POLICIES))
    from twilio_guardrails.config_file import check_file

    return check_file(path)
