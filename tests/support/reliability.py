"""What the reliability suite shares: the dev stack run with the settings the README recommends
for scale, a precise look at what the emulator holds against what the stack declares and what
state records, and a search for secrets in everything a run leaves behind.

The recommended settings (README, "Operating at scale"; measured by `bench/estate.py`):
- `PULUMI_SKIP_CHECKPOINTS=true`: the file backend writes state once, at the end of a run.
  Safe only because every create first looks for its object by identity tag and adopts it;
  the suite's kill test is the proof.
- `--parallel 64`, and the provider host with a wider worker pool than Pulumi's 4
  (`tools/provider_host`, wired through Pulumi.yaml `plugins:`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from architecture import build_plan, load_stack_config, parse_tag
from architecture.planner import Plan
from tests.support.emulator_process import EmulatorProcess
from tests.support.estate import estate
from tests.support.pulumi_cli import PulumiWorkspace, copy_program, pulumi_executable

PROJECT = "twilio-landing-zone"
STACK = "dev"
PROVIDER_WORKERS = 64
PARALLEL = 64
RECOMMENDED_ENV = {
    "PULUMI_SKIP_CHECKPOINTS": "true",
    "TLZ_PROVIDER_WORKERS": str(PROVIDER_WORKERS),
}
UP = ("up", "--yes", "--skip-preview", "--parallel", str(PARALLEL))
TWILIO_TYPES = (
    "Subaccount",
    "ApiKey",
    "MessagingService",
    "PhoneNumber",
    "SenderPool",
    "DefaultMessagingService",
)


def dev_workspace(
    tmp_path: Path,
    emulator: EmulatorProcess,
    stack: str = STACK,
    prepare: Callable[[Path], object] | None = None,
) -> PulumiWorkspace:
    """The shipped dev stack (or another stack file of the copy) in a private copy of the
    program, with a private backend, temp directory and Pulumi home (so every file a run
    writes is under `tmp_path`), run with the recommended settings."""
    project = copy_program(tmp_path / "project")
    if prepare is not None:
        prepare(project)  # e.g. write another stack file
    scratch = tmp_path / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    workspace = PulumiWorkspace(
        project_dir=project,
        state_dir=tmp_path / "state",
        extra_env={
            "TWILIO_EMULATOR_URL": emulator.url,
            "TMPDIR": str(scratch),
            **RECOMMENDED_ENV,
        },
    )
    workspace.init_stack(stack)
    return workspace


def declared_plan(workspace: PulumiWorkspace, stack: str = STACK) -> Plan:
    return build_plan(load_stack_config(workspace.project_dir / f"Pulumi.{stack}.yaml", PROJECT))


# --- runs that get interrupted ------------------------------------------------------------


def start_up(workspace: PulumiWorkspace) -> subprocess.Popen:
    """`pulumi up` in its own process group (CLI, program and provider killed together), its
    output captured in the workspace's state directory."""
    log = (workspace.state_dir / f"up-{time.monotonic_ns()}.log").open("w")
    return subprocess.Popen(
        [pulumi_executable(), *UP, "--non-interactive", "--color", "never"],
        cwd=workspace.project_dir,
        env=workspace.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_route(
    emulator: EmulatorProcess, route: str, count: int, up: subprocess.Popen, timeout: float = 90
) -> None:
    """Until the emulator has served `route` `count` times (the run is mid-way then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.stats()["routes"].get(route, 0) >= count:
            return
        if up.poll() is not None:
            raise AssertionError(f"pulumi up ended (exit {up.returncode}) before {route} x{count}")
        time.sleep(0.02)
    raise AssertionError(f"the run never reached {route} x{count} in {timeout}s")


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(raw[raw.rfind(")") + 2 :].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid == frontier[-1]]
        frontier.pop()
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return raw[raw.rfind(")") + 2 :].split()[0] not in ("Z", "X")


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def processes_of_run(root: int) -> dict[int, str]:
    """Every process under `root` now (pid -> command line)."""
    return {pid: _command(pid) for pid in _descendants(root)}


def kill_cli_only(up: subprocess.Popen) -> dict[int, str]:
    """SIGKILL the CLI's own process group (what `kill -9 <pid of pulumi>` does). Its plugins
    live in process groups of their own: returns them (pid -> command line)."""
    plugins = {pid: _command(pid) for pid in _descendants(up.pid)}
    os.killpg(up.pid, signal.SIGKILL)
    up.wait(timeout=10)
    return plugins


def still_running(pids: Iterable[int], timeout: float) -> list[int]:
    """Which of `pids` are still running after waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if _alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _alive(pid)]
    return alive


def kill_pids(processes: dict[int, str]) -> None:
    """SIGKILL each process that still runs the same command (a PID may have been reused)."""
    for pid, command in processes.items():
        if _alive(pid) and _command(pid) == command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def kill_run(up: subprocess.Popen) -> None:
    """SIGKILL the whole run at once, as a crash, an OOM kill or a cancelled CI job does: the
    CLI and its plugins (language host, program, provider), which Pulumi starts in process
    groups of their own."""
    tree = {pid: _command(pid) for pid in _descendants(up.pid)}
    os.killpg(up.pid, signal.SIGKILL)
    kill_pids(tree)
    up.wait(timeout=10)


def up_until_converged(workspace: PulumiWorkspace, attempts: int) -> list[int]:
    """Run `pulumi up` until it succeeds, at most `attempts` times; the exit codes."""
    codes = []
    for _ in range(attempts):
        result = workspace.run(*UP, check=False)
        codes.append(result.returncode)
        if result.returncode == 0:
            return codes
    raise AssertionError(f"pulumi up did not converge in {attempts} runs:\n{result}")


# --- what the emulator holds against what is declared and recorded -----------------------


@dataclass(frozen=True)
class StateView:
    resources: list[dict]
    pending: list

    def of(self, kind: str) -> list[dict]:
        token = f"pulumi-python:dynamic/twilio:{kind}"
        return [r for r in self.resources if r["type"] == token]

    def ids(self, kind: str) -> set[str]:
        return {r["id"] for r in self.of(kind)}


def state_view(workspace: PulumiWorkspace) -> StateView:
    deployment = json.loads(workspace.run("stack", "export").output)["deployment"]
    return StateView(deployment.get("resources") or [], deployment.get("pending_operations") or [])


def assert_exactly_declared(
    workspace: PulumiWorkspace, emulator: EmulatorProcess, stack: str = STACK
) -> None:
    """The emulator holds exactly the declared objects (no twins, no orphans), each recorded
    once in state, and state records nothing the emulator lacks."""
    plan = declared_plan(workspace, stack)
    state = state_view(workspace)
    problems: list[str] = []

    urns = Counter(r["urn"] for r in state.resources)
    problems += [f"{urn} is in state {n} times" for urn, n in urns.items() if n > 1]
    for kind in TWILIO_TYPES:
        ids = Counter(r["id"] for r in state.of(kind))
        problems += [f"{kind} {sid} is in state {n} times" for sid, n in ids.items() if n > 1]
    if state.pending:
        problems.append(f"state keeps pending operations: {state.pending}")

    accounts = {a.sid: a for a in estate(emulator).values() if a.status == "active"}
    account_tags = Counter(parse_tag(a.friendly_name) for a in accounts.values())
    expected_accounts = {account.tag for account in plan.accounts}
    if set(account_tags) != expected_accounts or set(account_tags.values()) != {1}:
        problems.append(f"subaccount tags {dict(account_tags)}, declared {expected_accounts}")
    if set(accounts) != state.ids("Subaccount"):
        problems.append(f"subaccounts {set(accounts)} vs state {state.ids('Subaccount')}")

    key_sids = {k.sid for k in _keys(emulator, accounts)}
    if key_sids != state.ids("ApiKey"):
        problems.append(f"API keys in Twilio {key_sids} vs state {state.ids('ApiKey')}")
    if len(key_sids) != sum(len(account.api_keys) for account in plan.accounts):
        problems.append(f"{len(key_sids)} API keys for the declared {plan.counts.api_keys}")

    services, numbers = {}, {}
    for account in accounts.values():
        services |= {s.sid: s for s in account.services if parse_tag(s.friendly_name)}
        numbers |= account.numbers
    declared_services = {service.tag for service in plan.services()}
    service_tags = Counter(parse_tag(s.friendly_name) for s in services.values())
    if set(service_tags) != declared_services or set(service_tags.values()) != {1}:
        problems.append(f"service tags {dict(service_tags)}, declared {declared_services}")
    if set(services) != state.ids("MessagingService"):
        problems.append(f"services {set(services)} vs state {state.ids('MessagingService')}")
    if set(numbers) != state.ids("PhoneNumber"):
        problems.append(f"numbers {sorted(numbers)} vs state {sorted(state.ids('PhoneNumber'))}")
    if len(numbers) != plan.counts.phone_numbers:
        problems.append(f"{len(numbers)} numbers for the declared {plan.counts.phone_numbers}")

    # Each pool holds exactly its service's numbers, and every number is in a pool.
    recorded = {r["id"]: r["outputs"] for r in state.of("PhoneNumber")}
    by_tag = {outputs["tag"]: sid for sid, outputs in recorded.items()}
    for service in plan.services():
        matches = [s for s in services.values() if parse_tag(s.friendly_name) == service.tag]
        if len(matches) != 1:
            continue  # reported above
        held = matches[0]
        expected = {by_tag.get(number.tag) for number in service.numbers}
        if set(held.phone_number_sids) != expected:
            problems.append(
                f"service {service.logical_name} pools {sorted(held.phone_number_sids)}, "
                f"declared {sorted(map(str, expected))}"
            )
    assert not problems, "the emulator does not hold exactly the declared estate:\n" + "\n".join(
        problems
    )


def objects_not_in_state(workspace: PulumiWorkspace, emulator: EmulatorProcess) -> set[str]:
    """SIDs of tagged objects Twilio holds (open subaccounts, keys, services, numbers) that
    state does not: the twins a lost answer left, or orphans."""
    state = state_view(workspace)
    accounts = {a.sid: a for a in estate(emulator).values() if a.status == "active"}
    held = {
        "Subaccount": set(accounts),
        "ApiKey": {k.sid for k in _keys(emulator, accounts)},
        "MessagingService": {
            s.sid for a in accounts.values() for s in a.services if parse_tag(s.friendly_name)
        },
        "PhoneNumber": {sid for a in accounts.values() for sid in a.numbers},
    }
    return {sid for kind, sids in held.items() for sid in sids - state.ids(kind)}


def _keys(emulator: EmulatorProcess, accounts: dict) -> list:
    client = emulator.client()
    return [
        key
        for sid in accounts
        for key in client.api.v2010.accounts(sid).keys.list()
        if parse_tag(key.friendly_name)
    ]


# --- secrets ------------------------------------------------------------------------------


def known_secrets(workspace: PulumiWorkspace, emulator: EmulatorProcess) -> dict[str, str]:
    """Every auth token and key secret of the estate: label -> value. Read with the parent's
    credentials and `stack output --show-secrets` (that one command's output is excluded from
    the search: it was asked to show them)."""
    client = emulator.client()
    secrets = {"parent auth token": emulator.auth_token}
    for account in client.api.v2010.accounts.list(page_size=1000):
        if account.sid != emulator.account_sid and parse_tag(account.friendly_name):
            secrets[f"auth token of {account.sid}"] = account.auth_token
    outputs = workspace.outputs(show_secrets=True)
    for tenant, keys in outputs["api_key_secrets"].items():
        for name, value in keys.items():
            secrets[f"secret of key {tenant}/{name}"] = value
    return secrets


def encodings(sid_and_secret: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Basic-auth headers as a log would show them, for each (username, password)."""
    return {
        f"basic auth of {user}": base64.b64encode(f"{user}:{password}".encode()).decode()
        for user, password in sid_and_secret
    }


def leaked_secrets(secrets: dict[str, str], texts: dict[str, str]) -> list[tuple[str, str]]:
    """(secret label, where) for every secret found in plain text."""
    return [
        (label, where)
        for label, value in secrets.items()
        for where, text in texts.items()
        if value and value in text
    ]


def everything_written(workspace: PulumiWorkspace, roots: Iterable[Path]) -> dict[str, str]:
    """What a run leaves behind, readable: every CLI output (except the commands asked to
    show secrets), the exported stack and its outputs, and every file under `roots` (files or
    directories: state, backups, history, locks, Pulumi's logs, temp files, the provider
    host's records, stack files). The emulator (its database, its log) is Twilio's side."""
    texts = {
        f"CLI output of `pulumi {' '.join(r.args)}`": r.output
        for r in workspace.transcript
        if "--show-secrets" not in r.args
    }
    texts["pulumi stack output --json"] = workspace.run("stack", "output", "--json").output
    texts["pulumi stack export"] = workspace.run("stack", "export").output
    for root in map(Path, roots):
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if not path.is_file() or path.suffix in {".db", ".db-wal", ".db-shm"}:
                continue
            if "plugins" in path.relative_to(root.parent if root.is_file() else root).parts:
                continue
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return texts


def assert_no_plaintext_secrets(
    workspace: PulumiWorkspace,
    emulator: EmulatorProcess,
    roots: Iterable[Path],
    extra: Callable[[], dict[str, str]] | None = None,
) -> int:
    """No token or key secret (raw, or in a Basic-auth header) anywhere a run wrote.
    Returns how many texts were searched."""
    secrets = known_secrets(workspace, emulator)
    accounts = [
        (label.removeprefix("auth token of "), value)
        for label, value in secrets.items()
        if label.startswith("auth token of ")
    ]
    secrets |= encodings([(emulator.account_sid, emulator.auth_token), *accounts])
    texts = everything_written(workspace, roots)
    if extra is not None:
        texts |= extra()
    leaks = leaked_secrets(secrets, texts)
    assert not leaks, "secrets in plain text:\n" + "\n".join(f"{a} in {b}" for a, b in leaks)
    assert len(secrets) >= 5, secrets.keys()
    return len(texts)
