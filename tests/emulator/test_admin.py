"""The admin API under /_emulator: no Twilio auth, its own small error shape."""

from __future__ import annotations

import requests

from tests.support.emulator_process import EmulatorProcess


def test_health_and_faults_roundtrip(emulator: EmulatorProcess) -> None:
    assert emulator.health() == {"status": "ok", "account_sid": emulator.account_sid}
    changed = emulator.set_faults(latency_ms=5, methods=["post"])
    assert changed["latency_ms"] == 5.0 and changed["methods"] == ["POST"]
    assert emulator.faults() == changed
    assert emulator.reset_faults()["latency_ms"] == 0.0


def test_short_code_provisioning_errors(emulator: EmulatorProcess) -> None:
    url = f"{emulator.url}/_emulator/short-codes"
    unknown = requests.post(url, json={"account_sid": "AC" + "7" * 32}, timeout=5)
    assert unknown.status_code == 404 and "no account" in unknown.json()["error"]
    assert requests.post(url, json={"short_code": "12"}, timeout=5).status_code == 400
    assert requests.post(url, data=b"not json", timeout=5).status_code == 400
    first = emulator.provision_short_code(short_code="55501")
    assert first["short_code"] == "55501"
    assert requests.post(url, json={"short_code": "55501"}, timeout=5).status_code == 409
    assert emulator.provision_short_code()["short_code"] != "55501"


def test_admin_routes_refuse_other_methods(emulator: EmulatorProcess) -> None:
    response = requests.delete(f"{emulator.url}/_emulator/faults", timeout=5)
    assert response.status_code == 405
