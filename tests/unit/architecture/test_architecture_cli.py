"""`python -m architecture show|validate`: readable output, exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from arch_samples import PROD_COLLECTOR, REPO_ROOT, isv_production, service, tenant

from architecture.__main__ import main


def _stack_file(tmp_path: Path, architecture: dict, name: str = "Pulumi.test.yaml") -> Path:
    path = tmp_path / name
    config = {
        "twilio-landing-zone:architecture": architecture,
        "twilio-landing-zone:collectorUrl": PROD_COLLECTOR,
    }
    path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return path


def test_show_prints_the_planned_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "prod"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "twilio-landing-zone/prod: isv style, environments production"
    assert lines[1] == f"collector: {PROD_COLLECTOR}"
    assert "account bayside-dental  [production, customer, protected]" in lines
    assert (
        "  |-- key bayside-dental-key-backend  (restricted: /twilio/messaging/messages/create, "
        "/twilio/messaging/messages/read)" in lines
    )
    assert "  |-- service bayside-dental-svc-notifications  (notifications)" in lines
    assert f"  |   status callback: {PROD_COLLECTOR} (collector)" in lines
    assert "  |   pool bayside-dental-svc-notifications-pool  (2 senders)" in lines
    assert (
        "  |   |-- number bayside-dental-num-notifications-1  "
        "(search US area code 415, protected)" in lines
    )
    assert "      pool summit-fitness-svc-marketing-pool  (4 senders)" in lines
    assert lines[-1] == (
        "totals: 3 accounts, 3 api keys, 7 services, 7 sender pools, 13 phone numbers, "
        "0 short codes, 0 alpha senders (33 resources)"
    )


def test_show_orders_accounts_keys_services_senders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "dev"]) == 0
    out = capsys.readouterr().out
    positions = [
        out.index("account shared-dev "),
        out.index("key shared-dev-key-backend"),
        out.index("service shared-dev-svc-notifications"),
        out.index("pool shared-dev-svc-notifications-pool"),
        out.index("number shared-dev-num-notifications-1"),
        out.index("account shared-staging "),
    ]
    assert positions == sorted(positions)


def test_show_reads_another_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    senders = {"short_codes": ["SC" + "a" * 32], "alpha_senders": ["Acme"]}
    path = _stack_file(tmp_path, isv_production(tenant(services=[service(senders=senders)])))
    assert main(["show", "test", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("twilio-landing-zone/test: isv style")
    assert "short code SC" + "a" * 32 in out
    assert "alpha sender 'Acme'" in out
    assert "(2 senders)" in out
    assert "0 phone numbers, 1 short code, 1 alpha sender (4 resources)" in out


def test_validate_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _stack_file(tmp_path, isv_production())
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: valid (twilio-landing-zone/test, 1 account, 1 service, 2 phone numbers)\n"
    )


def test_validate_exits_1_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = isv_production(tenant("acme", services=[service("promo")]), tenant("acme"))
    data["tenants"][1]["api_keys"] = [{"name": "backend", "kind": "main"}]
    path = _stack_file(tmp_path, data)
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"{path}: 2 problems in the stack's declared architecture:\n"
        "  - tenants[0].services[0].use_case: 'promo' is not one of notifications, marketing, "
        "verification, discussion, poll, undeclared\n"
        "  - tenants[1].api_keys[0].kind: 'main' is not one of standard, restricted\n"
    )


def test_show_of_an_unknown_stack_is_a_readable_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "no-such-stack"]) == 1
    err = capsys.readouterr().err
    assert "Pulumi.no-such-stack.yaml: 1 problem" in err
    assert "cannot read the stack file: No such file or directory" in err


def test_the_module_runs_without_a_traceback(tmp_path: Path) -> None:
    bad = _stack_file(tmp_path, isv_production(tenant(services=[service(validity_period=0)])))
    result = subprocess.run(
        [sys.executable, "-m", "architecture", "validate", str(bad)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "tenants[0].services[0].validity_period: 0 is below the minimum 1" in result.stderr

    shown = subprocess.run(
        [sys.executable, "-m", "architecture", "show", "dev"],
        cwd=tmp_path,  # the stack is found at the repository root, wherever it runs from
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(REPO_ROOT)},
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("twilio-landing-zone/dev: isv style")
