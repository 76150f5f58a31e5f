"""A policy config cannot weaken the pack: the file check the entry points run first, and the
pack's own check when the engine configures it (a guarded wrap of pulumi-policy's servicer)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi_policy import policy as sdk
from pulumi_policy.version import VERSION

from tests.support.pulumi_cli import REPO_ROOT
from twilio_guardrails import POLICIES, config_file, guard

RULES = config_file.pack_rules()


def file_problems(tmp_path: Path, content: object) -> list[str]:
    path = tmp_path / "stack.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return [line.removeprefix(f"{path}: ") for line in config_file.check_file(path)]


@pytest.mark.parametrize("stack", ["dev", "prod", "example"])
def test_the_shipped_configs_pass(stack: str) -> None:
    assert config_file.check_file(REPO_ROOT / "policies" / "config" / f"{stack}.json") == []


def test_an_unknown_rule_is_named_with_a_suggestion(tmp_path: Path) -> None:
    [line] = file_problems(tmp_path, {"https-webhook": {"allow_loopback_in": []}})
    assert line.startswith(
        "https-webhook: names no rule of this pack: did you mean 'https-webhooks'? its rules are "
    )


def test_an_unknown_setting_is_named_with_a_suggestion(tmp_path: Path) -> None:
    [line] = file_problems(tmp_path, {"sender-pool-limits": {"max_sender": 3}})
    assert line == (
        "sender-pool-limits.max_sender: is not a setting of sender-pool-limits (did you mean "
        "'max_senders'?); its settings: max_senders"
    )


@pytest.mark.parametrize("rule", ["no-sending-from-parent", "one-messaging-service-per-use-case"])
@pytest.mark.parametrize("level", ["advisory", "disabled"])
def test_a_mandatory_everywhere_rule_cannot_be_weakened(tmp_path, rule: str, level: str):
    for entry, key in ((level, rule), ({"enforcementLevel": level}, f"{rule}.enforcementLevel")):
        [line] = file_problems(tmp_path, {rule: entry})
        assert line.startswith(f"{key}: sets {level!r}, but {rule} is mandatory in every stack")
    [line] = file_problems(tmp_path, {"all": level, rule: "mandatory"})
    other = ({"no-sending-from-parent", "one-messaging-service-per-use-case"} - {rule}).pop()
    assert line.startswith(f"all: sets {level!r}, but {other} is mandatory")


def test_other_rules_may_be_relaxed(tmp_path: Path) -> None:
    assert file_problems(tmp_path, {"all": "mandatory", "https-webhooks": "advisory"}) == []
    assert file_problems(tmp_path, {"protect-irreversible": {"enforcementLevel": "disabled"}}) == []


@pytest.mark.parametrize("key", ["exceptions", "environments", "version", "policies"])
def test_keys_the_cli_keeps_from_the_pack_are_refused(tmp_path: Path, key: str) -> None:
    [line] = file_problems(tmp_path, {key: []})
    assert line.startswith(f"{key}: is not allowed here: ")


def test_bad_values_and_bad_json(tmp_path: Path) -> None:
    assert file_problems(tmp_path, {"https-webhooks": {"allow_loopback_in": ["prod"]}}) == [
        "https-webhooks.allow_loopback_in: 'prod' is not one of ['development', 'staging', "
        "'production']"
    ]
    assert file_problems(tmp_path, {"https-webhooks": "strict"})[0].startswith(
        "https-webhooks: sets 'strict', not one of advisory"
    )
    assert file_problems(tmp_path, "{") == [
        "line 1: not valid JSON (Expecting property name enclosed in double quotes)"
    ]
    assert file_problems(tmp_path, []) == ["is not a JSON object keyed by rule name"]


def test_the_command_prints_one_line_per_problem_and_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "weak.json"
    path.write_text(json.dumps({"no-sending-from-parent": "disabled", "typo": "mandatory"}))
    assert config_file.main([str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["typo", "no-sending-from-parent"]
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert config_file.main([str(REPO_ROOT / "policies" / "config" / "prod.json")]) == 0


# -- the pack's own check, inside the engine's Configure call ---------------------------------


def test_the_guard_was_checked_against_the_installed_pulumi_policy() -> None:
    assert VERSION in guard.CHECKED_VERSIONS, (
        f"pulumi-policy {VERSION}: re-check twilio_guardrails/guard.py against the SDK's "
        "_PolicyAnalyzerServicer.Configure, then add the version to CHECKED_VERSIONS"
    )
    # What the wrap relies on: the private servicer and its Configure(request, context).
    assert callable(sdk._PolicyAnalyzerServicer.Configure)


class _Aborted(Exception):
    pass


class _Context:
    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Aborted(code, details)


def _configure(levels: dict[str, int], properties: dict[str, dict] | None = None):
    guarded = guard._guarded(sdk._PolicyAnalyzerServicer, RULES)
    servicer = guarded("twilio-guardrails", "0.1.0", POLICIES, sdk.EnforcementLevel.MANDATORY)
    request = proto.ConfigureAnalyzerRequest()
    for name, level in levels.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = level
        entry.properties.CopyFrom(struct_pb2.Struct())
        entry.properties.update((properties or {}).get(name, {}))
    return servicer.Configure(request, _Context())


def test_the_pack_accepts_the_engines_config_of_a_shipped_file() -> None:
    levels = {rule: proto.MANDATORY for rule in RULES}
    levels["https-webhooks"] = proto.ADVISORY
    _configure(levels, {"https-webhooks": {"allow_loopback_in": ["development"]}})


def test_the_pack_refuses_a_weakened_rule_and_an_unknown_one() -> None:
    levels = {rule: proto.MANDATORY for rule in RULES}
    levels["no-sending-from-parent"] = proto.DISABLED
    levels["no-sending-from-parnet"] = proto.MANDATORY
    with pytest.raises(_Aborted) as refused:
        _configure(levels)
    code, details = refused.value.args
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("the policy config weakens the Twilio guardrails: ")
    assert "no-sending-from-parnet: names no rule of this pack" in details
    assert "no-sending-from-parent.enforcementLevel: sets 'disabled'" in details


def test_an_unchecked_sdk_keeps_the_stock_servicer(monkeypatch, capsys) -> None:
    monkeypatch.setattr(guard, "_sdk_version", lambda: "9.9.9")
    stock = sdk._PolicyAnalyzerServicer
    assert guard.hold_config(RULES) is False
    assert sdk._PolicyAnalyzerServicer is stock
    assert "running without it" in capsys.readouterr().err
