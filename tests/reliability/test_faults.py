"""Twilio answering 20% of requests with 429 and 5% with a 5xx: `pulumi up` of the dev stack
converges, and the emulator then holds exactly the declared objects (no twins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.emulator_process import running_emulator
from tests.support.reliability import (
    assert_exactly_declared,
    assert_no_plaintext_secrets,
    dev_workspace,
    up_until_converged,
)

pytestmark = pytest.mark.reliability

# One run: every retryable answer is retried, and a create whose answer was lost is looked
# up by its tag (or, for keys and pool attaches, safely repeated) before it is tried again.
ATTEMPTS = 1


def test_up_converges_under_throttling_and_server_errors(tmp_path: Path) -> None:
    with running_emulator(tmp_path / "emulator", extra_args=["--latency-ms", "20"]) as emulator:
        workspace = dev_workspace(tmp_path, emulator)
        # 500 and 503 in equal parts (the emulator's draw), answered instead of running the
        # request; 429s carry Retry-After: 1.
        emulator.set_faults(rate_429=0.2, rate_5xx=0.05, seed=20261127)

        codes = up_until_converged(workspace, ATTEMPTS)

        stats = emulator.stats()
        assert stats["faults"].get("429", 0) >= 10, stats["faults"]
        assert stats["faults"].get("500", 0) + stats["faults"].get("503", 0) >= 1, stats
        emulator.set_faults(rate_429=0.0, rate_5xx=0.0)
        assert_exactly_declared(workspace, emulator)
        # Converged means nothing left to do: a no-change preview (no Twilio call).
        workspace.run("preview", "--expect-no-changes")
        assert_no_plaintext_secrets(workspace, emulator, [tmp_path / "state", tmp_path / "tmp"])
        assert codes[-1] == 0
