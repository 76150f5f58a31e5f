"""The pack through the real CLI: `pulumi preview --policy-pack` fails on a mandatory violation
with the `[mandatory]  <rule>` line and what must change, and passes the shipped stacks.

Previews only: no Twilio call, no emulator. Each test previews a copy of a program in a tmp
directory with its own file backend (never the checkout's .state/).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.pulumi_cli import (
    REPO_ROOT,
    CommandResult,
    PulumiWorkspace,
    copy_program,
    write_pulumi_yaml,
)

pytestmark = pytest.mark.e2e

PACK = REPO_ROOT / "policies"
CONFIG = PACK / "config"
VIOLATIONS = Path(__file__).parent / "violations" / "__main__.py"
SERVICE = "pulumi-python:dynamic/twilio:MessagingService"
SUBACCOUNT = "pulumi-python:dynamic/twilio:Subaccount"
PACK_LINE = "twilio-guardrails@v0.1.0"
PARENT_SID = "AC" + "0" * 32


def preview(workspace: PulumiWorkspace, config: str) -> CommandResult:
    return workspace.run(
        "preview",
        "--policy-pack",
        str(PACK),
        "--policy-pack-config",
        str(CONFIG / f"{config}.json"),
        check=False,
    )


def violation_line(level: str, rule: str, token: str, name: str) -> str:
    return f"[{level}]  {rule}  ({token}: {name})"


# -- the test-only program that registers violating resources directly ----------------------


@pytest.fixture
def violations(tmp_path: Path):
    project = copy_program(tmp_path / "violations", main=VIOLATIONS, stack_files=False)
    write_pulumi_yaml(project, "violations")
    workspace = PulumiWorkspace(project_dir=project, state_dir=tmp_path / "state")
    workspace.init_stack("test")

    def estate(scenario: str) -> PulumiWorkspace:
        workspace.set_config("scenario", scenario)
        return workspace

    return estate


@pytest.mark.parametrize("config", ["dev", "prod"])
def test_a_service_on_the_parent_account_fails_everywhere(violations, config: str) -> None:
    result = preview(violations("service-on-parent"), config)
    assert result.returncode == 1, result
    line = violation_line("mandatory", "no-sending-from-parent", SERVICE, "parent-svc-marketing")
    assert line in result.output, result
    assert (
        "MessagingService 'parent-svc-marketing' is a Messaging Service on the parent account "
        f"(its account_sid ('{PARENT_SID}') comes from no Subaccount of this stack); the parent "
        "account never sends and holds no keys: declare it in a tenant's subaccount"
        in " ".join(result.output.split())
    ), result


@pytest.mark.parametrize("config", ["dev", "prod"])
def test_two_services_for_one_use_case_fail_everywhere(violations, config: str) -> None:
    result = preview(violations("two-services-for-one-use-case"), config)
    assert result.returncode == 1, result
    rule = "one-messaging-service-per-use-case"
    assert violation_line("mandatory", rule, SERVICE, "acme-svc-notifications-2") in result.output
    assert (
        "MessagingService 'acme-svc-notifications-2' is another 'notifications' service in "
        "subaccount 'acme'" in result.output
    ), result
    # One report: the subaccount's auto-generated default service is no second service.
    assert result.output.count(f"  {rule}  (") == 1, result


def test_a_compliant_estate_passes_the_production_config(violations) -> None:
    result = preview(violations("compliant"), "prod")
    assert result.returncode == 0, result
    assert PACK_LINE in result.output
    assert "[mandatory]" not in result.output and "[advisory]" not in result.output, result


def test_dev_config_reports_advisory_where_prod_blocks(violations) -> None:
    workspace = violations("unprotected-production-subaccount")
    dev = preview(workspace, "dev")
    assert dev.returncode == 0, dev
    assert violation_line("advisory", "protect-irreversible", SUBACCOUNT, "acme") in dev.output
    prod = preview(workspace, "prod")
    assert prod.returncode == 1, prod
    line = violation_line("mandatory", "protect-irreversible", SUBACCOUNT, "acme")
    assert line in prod.output
    assert "register it with pulumi.ResourceOptions(protect=True)" in prod.output


# -- programs written to slip past the pack ---------------------------------------------------

BYPASSES = {
    # scenario: (rule, type, resource, what the message must say)
    "relabelled-literal-parent-sid": (
        "no-sending-from-parent",
        SERVICE,
        "acme-svc-marketing",
        f"on the parent account (its account_sid ('{PARENT_SID}') comes from no Subaccount of "
        "this stack, although labelled account_key 'acme')",
    ),
    "relabelled-second-service": (
        "one-messaging-service-per-use-case",
        SERVICE,
        "globex-svc-notifications",
        "is another 'notifications' service in subaccount 'acme', besides 'acme-svc-notifications'",
    ),
    "key-on-parent": (
        "no-sending-from-parent",
        "pulumi-python:dynamic/twilio:ApiKey",
        "ops-key",
        "ApiKey 'ops-key' mints an API key on the parent account",
    ),
    "unknown-sid-from-another-resource": (
        "no-sending-from-parent",
        SERVICE,
        "acme-svc-poll",
        "its account_sid (not known until it is created) comes from no Subaccount of this stack",
    ),
    "pool-on-parents-default-service": (
        "no-sending-from-parent",
        "pulumi-python:dynamic/twilio:SenderPool",
        "parent-default-pool",
        "the parent's auto-generated default Messaging Service, which sends nothing only as "
        "long as it has no senders",
    ),
}


@pytest.mark.parametrize("config", ["dev", "prod"])
@pytest.mark.parametrize("scenario", sorted(BYPASSES))
def test_a_program_written_to_bypass_the_pack_fails_everywhere(violations, scenario, config):
    rule, token, name, says = BYPASSES[scenario]
    result = preview(violations(scenario), config)
    assert result.returncode == 1, result
    assert violation_line("mandatory", rule, token, name) in result.output, result
    assert says in " ".join(result.output.split()), result


def test_relabelling_into_development_earns_no_leniency(violations) -> None:
    # The dev config allows loopback callbacks in development; the service says it belongs to
    # the development tenant, but its account_sid is the production subaccount's.
    result = preview(violations("relabelled-into-development"), "dev")
    rule = "status-callback-required"
    assert violation_line("advisory", rule, SERVICE, "lab-svc-marketing") in result.output, result
    assert (
        "MessagingService 'lab-svc-marketing' (subaccount 'acme', production): status_callback "
        "'http://127.0.0.1:4020/twilio/status' points at a loopback host"
        in " ".join(result.output.split())
    ), result


def test_a_config_that_weakens_the_pack_stops_a_bare_preview(violations, tmp_path: Path):
    # No entry point checked this file: the pack itself refuses it when the engine configures
    # it, before any resource is analysed.
    weak = tmp_path / "weak.json"
    weak.write_text(
        json.dumps(
            {
                "no-sending-from-parent": "advisory",
                "one-messaging-service-per-use-case": {"enforcementLevel": "disabled"},
                "no-sending-from-parnet": {"enforcementLevel": "mandatory"},
            }
        )
    )
    workspace = violations("service-on-parent")
    result = workspace.run(
        "preview", "--policy-pack", str(PACK), "--policy-pack-config", str(weak), check=False
    )
    assert result.returncode != 0, result
    output = " ".join(result.output.split())
    assert 'configuring policy pack "twilio-guardrails"' in output, result
    # The engine hands every rule over as an object, so the key names its level.
    assert (
        "no-sending-from-parent.enforcementLevel: sets 'advisory', but no-sending-from-parent "
        "is mandatory in every stack and cannot be weakened by config" in output
    ), result
    assert "one-messaging-service-per-use-case.enforcementLevel: sets 'disabled'" in output
    assert (
        "no-sending-from-parnet: names no rule of this pack: did you mean "
        "'no-sending-from-parent'?" in output
    ), result
    assert "[mandatory]" not in result.output and "[advisory]" not in result.output, result


# -- the shipped stacks, through scripts/policy-check ---------------------------------------


def _copy_landing_zone(project: Path, stack: str, stack_file: Path) -> None:
    copy_program(project, stack_files=False)
    shutil.copy2(stack_file, project / f"Pulumi.{stack}.yaml")
    (project / "scripts").mkdir()
    shutil.copy2(REPO_ROOT / "scripts" / "policy-check", project / "scripts" / "policy-check")
    shutil.copytree(PACK, project / "policies", ignore=shutil.ignore_patterns("__pycache__"))


@pytest.mark.parametrize(
    ("stack", "stack_file"),
    [
        ("dev", REPO_ROOT / "Pulumi.dev.yaml"),
        ("prod", REPO_ROOT / "Pulumi.prod.yaml"),
        ("example", REPO_ROOT / "examples" / "direct" / "Pulumi.example.yaml"),
    ],
)
def test_the_shipped_stacks_pass_policy_check(tmp_path: Path, stack: str, stack_file: Path):
    project = tmp_path / "landing-zone"
    _copy_landing_zone(project, stack, stack_file)
    workspace = PulumiWorkspace(project_dir=project, state_dir=tmp_path / "state")
    workspace.init_stack(stack)
    completed = subprocess.run(
        [str(project / "scripts" / "policy-check"), stack],
        cwd=project,
        env=workspace.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    output = completed.stdout
    assert completed.returncode == 0, output
    assert PACK_LINE in output, output
    assert "[mandatory]" not in output, output
    # The whole estate was registered and seen, not a program that stopped half way.
    assert "error:" not in output and "errored" not in output, output
    for kind in ("Subaccount", "ApiKey", "DefaultMessagingService", "MessagingService"):
        assert f"pulumi-python:dynamic/twilio:{kind} " in output, (kind, output)
    for kind in ("PhoneNumber", "SenderPool"):
        assert f"pulumi-python:dynamic/twilio:{kind} " in output, (kind, output)


def _policy_check(project: Path, workspace: PulumiWorkspace, stack: str):
    return subprocess.run(
        [str(project / "scripts" / "policy-check"), stack],
        cwd=project,
        env=workspace.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_policy_check_refuses_a_weakening_config_file_before_the_cli(tmp_path: Path):
    project = tmp_path / "landing-zone"
    _copy_landing_zone(project, "prod", REPO_ROOT / "Pulumi.prod.yaml")
    config = project / "policies" / "config" / "prod.json"
    settings = json.loads(config.read_text())
    settings["no-sending-from-parent"] = {"enforcementLevel": "disabled"}
    settings["sender-pool-limit"] = {"max_senders": 10}
    config.write_text(json.dumps(settings))
    workspace = PulumiWorkspace(project_dir=project, state_dir=tmp_path / "state")
    completed = _policy_check(project, workspace, "prod")
    assert completed.returncode == 2, completed
    assert completed.stderr.splitlines() == [
        "policies/config/prod.json: sender-pool-limit: names no rule of this pack: did you mean "
        "'sender-pool-limits'? its rules are no-sending-from-parent, "
        "one-messaging-service-per-use-case, status-callback-required, https-webhooks, "
        "sender-pool-limits, restricted-api-keys, protect-irreversible, isolated-environments",
        "policies/config/prod.json: no-sending-from-parent.enforcementLevel: sets 'disabled', "
        "but no-sending-from-parent is mandatory in every stack and cannot be weakened by "
        "config: remove the setting or make it 'mandatory'",
        "policy-check: policies/config/prod.json refused (the lines above); nothing was previewed.",
    ], completed
    assert completed.stdout == ""


def test_policy_check_names_a_stack_file_error_as_such(tmp_path: Path):
    project = tmp_path / "landing-zone"
    _copy_landing_zone(project, "prod", REPO_ROOT / "Pulumi.prod.yaml")
    stack_file = project / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace("kind: restricted", "kind: standard", 1))
    workspace = PulumiWorkspace(project_dir=project, state_dir=tmp_path / "state")
    completed = _policy_check(project, workspace, "prod")
    assert completed.returncode == 2, completed
    assert "'standard' in production; production keys are restricted" in completed.stderr
    assert "policy-check: Pulumi.prod.yaml refused (the lines above); nothing was previewed." in (
        completed.stderr
    )
    assert "[mandatory]" not in completed.stderr + completed.stdout


def test_policy_check_reads_the_tenants_of_a_catalog_stack(tmp_path: Path):
    project = tmp_path / "landing-zone"
    _copy_landing_zone(project, "prod", REPO_ROOT / "Pulumi.prod.yaml")
    stack_file = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    tenants = document["config"]["twilio-landing-zone:architecture"].pop("tenants")
    document["config"]["twilio-landing-zone:catalog"] = "catalogs/prod.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    catalog = project / "catalogs" / "prod.yaml"
    catalog.parent.mkdir()
    text = yaml.safe_dump({"tenants": tenants}, sort_keys=False)
    catalog.write_text(text.replace("kind: restricted", "kind: standard", 1))
    workspace = PulumiWorkspace(project_dir=project, state_dir=tmp_path / "state")
    workspace.init_stack("prod")

    refused = _policy_check(project, workspace, "prod")
    assert refused.returncode == 2, refused
    assert refused.stderr.startswith("Pulumi.prod.yaml with catalogs/prod.yaml: "), refused
    assert "  - tenants[0].api_keys[0]" in refused.stderr, refused
    assert "'standard' in production; production keys are restricted" in refused.stderr

    catalog.write_text(text)
    completed = _policy_check(project, workspace, "prod")
    assert completed.returncode == 0, completed
    assert PACK_LINE in completed.stdout and "[mandatory]" not in completed.stdout
    for kind in ("Subaccount", "ApiKey", "MessagingService", "PhoneNumber", "SenderPool"):
        assert f"pulumi-python:dynamic/twilio:{kind} " in completed.stdout, kind
