"""`serve --workers N`: several processes behind one socket, as a user runs it. Every signed
callback answered 200 is stored once, on SQLite and on PostgreSQL; `/metrics` covers every worker
whichever of them a scrape reaches; every worker refuses through the refusal budget's gate, a
budget of its own; SIGTERM stops every worker after its last commit; a killed supervisor leaves
no worker behind."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from collector.storage.database import create_database_engine
from collector.storage.schema import status_events
from tests.collector.support import (
    CollectorProcess,
    callback_params,
    collector_cli,
    collector_environment,
    collector_process,
    free_port,
    message_sid,
    sign,
    spawned_workers,
)
from tests.support.emulator_process import EmulatorProcess, running_emulator
from tests.support.waiting import wait_until

GRAFANA = Path(__file__).resolve().parents[2] / "collector" / "grafana" / "delivery.json"
SERVICE = "MG" + "7" * 32
FINAL = ("delivered", "undelivered", "failed")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with running_emulator(tmp_path_factory.mktemp("workers-emulator")) as running:
        yield running


@pytest.fixture(scope="module")
def subaccount(emulator: EmulatorProcess) -> tuple[str, str]:
    """A subaccount of the estate (listed by every worker at its start): SID and token."""
    account = emulator.client().api.v2010.accounts.create(friendly_name="workers test")
    return account.sid, account.auth_token


def _names_file(path: Path, account_sid: str) -> Path:
    entries = {
        account_sid: {
            "kind": "subaccount",
            "tenant": "harbor-clinic",
            "display_name": "Harbor Clinic",
            "environment": "production",
            "logical_name": "harbor-clinic",
        },
        SERVICE: {
            "kind": "service",
            "tenant": "harbor-clinic",
            "use_case": "notifications",
            "logical_name": "harbor-clinic-notifications",
        },
    }
    path.write_text(json.dumps({"tenants": {}, "names": entries}))
    return path


def _callback(collector: CollectorProcess, account: tuple[str, str], index: int):
    status = FINAL[index % 3]
    params = callback_params(
        account[0],
        message_sid(),
        status,
        service=SERVICE,
        error_code=None if status == "delivered" else f"3000{index % 4}",
    )
    headers = {"X-Twilio-Signature": sign(collector.status_url, params, account[1])}
    return params, headers


def _send(
    collector: CollectorProcess,
    account: tuple[str, str],
    count: int,
    connections: int,
    answered: dict[str, int],
    stop: threading.Event | None = None,
) -> None:
    """`count` signed final-status callbacks over `connections` keep-alive connections at once;
    `answered`: message SID -> HTTP status of those that got an answer."""
    lock = threading.Lock()
    numbers = iter(range(count))

    def one_connection() -> None:
        with httpx.Client(timeout=30) as client:
            while stop is None or not stop.is_set():
                with lock:
                    index = next(numbers, None)
                if index is None:
                    return
                params, headers = _callback(collector, account, index)
                try:
                    response = client.post(collector.status_url, data=params, headers=headers)
                except httpx.HTTPError:
                    return  # the collector went away: unanswered, so not acknowledged
                with lock:
                    answered[params["MessageSid"]] = response.status_code

    threads = [threading.Thread(target=one_connection) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def _stored_sids(database_url: str) -> Counter[str]:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(status_events.c.message_sid)).scalars().all()
    finally:
        engine.dispose()
    return Counter(rows)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _metrics_directory(worker: int) -> Path:
    environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    value = next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR="))
    return Path(value.split(b"=", 1)[1].decode())


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_metrics_cover_every_worker_and_every_answer_is_stored_once(
    request: pytest.FixtureRequest,
    backend: str,
    emulator: EmulatorProcess,
    subaccount: tuple[str, str],
    tmp_path: Path,
):
    database_url = request.getfixturevalue(f"{backend}_url")
    names = _names_file(tmp_path / "names.json", subaccount[0])
    env = collector_environment(emulator.url)
    args = ("--names", str(names), "--no-usage")
    with collector_process(database_url, env, tmp_path, args, workers=2) as collector:
        workers = spawned_workers(collector.process.pid)
        assert len(workers) == 2
        # Each /healthz counts its own worker's answers; fresh connections reach either.
        seen: dict[int, int] = {}

        def each_worker_counted() -> bool:
            health = httpx.get(collector.base_url + "/healthz", timeout=10).json()
            seen[health["pid"]] = health["answers"].get("200", 0)
            return len(seen) == 2 and sum(seen.values()) == len(answered)

        answered: dict[str, int] = {}
        wait_until(each_worker_counted, 60, "both workers serving")  # the helper waited for one
        _send(collector, subaccount, 300, 16, answered)
        assert set(answered.values()) == {200} and len(answered) == 300
        params, _ = _callback(collector, subaccount, 0)
        forged = {"X-Twilio-Signature": sign(collector.status_url, params, "not-the-token")}
        refused = httpx.post(collector.status_url, data=params, headers=forged, timeout=10)
        assert refused.status_code == 403
        # Both workers answered some of the 300 callbacks.
        wait_until(each_worker_counted, 60, "every answer counted by a worker's /healthz")
        assert set(seen) == workers and all(seen.values())

        # Whichever worker a scrape reaches, it reports the whole collector (the others'
        # counts are synced every second). The tenant gets its label from the label book a
        # moment after its first callbacks (those stay `other`): more traffic then shows it.
        last: list[dict] = [{}]

        def complete_page() -> dict | None:
            page = _samples(httpx.get(collector.base_url + "/metrics", timeout=10).text)
            last[0] = page
            synced = page.get(("tlz_collector_callbacks_received_total", ())) == len(answered) + 1
            labelled = any(
                dict(labels).get("tenant") == "harbor-clinic"
                for name, labels in page
                if name == "tlz_collector_messages_total"
            )
            if synced and not labelled:
                _send(collector, subaccount, 3, 1, answered)
            return page if synced and labelled else None

        try:
            page = wait_until(complete_page, 60, "every worker's callbacks on /metrics")
        except AssertionError:
            print(last[0], collector.log())
            raise
        sent = len(answered)
        assert set(answered.values()) == {200}
        messages = {
            labels: value
            for (name, labels), value in page.items()
            if name == "tlz_collector_messages_total"
        }
        assert sum(messages.values()) == sent  # counted once, labelled or `other`
        assert page[("tlz_collector_callbacks_stored_total", ())] == sent
        assert page[("tlz_collector_callbacks_refused_total", (("reason", "forged"),))] == 1
        assert page[("tlz_collector_store_seconds_count", ())] == sent
        assert page[("tlz_collector_known_accounts", ())] >= 2
        for labels in messages:
            assert dict(labels)["use_case"] == "notifications"
            assert dict(labels)["tenant"] in {"harbor-clinic", "other"}
        # The Grafana dashboard's queries find their metrics whatever serves them.
        dashboard = json.loads(GRAFANA.read_text())
        queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
        exported = {name for name, _ in page}
        for query in queries:
            missing = set(re.findall(r"\btlz_collector_[a-z_]+\b", query)) - exported
            assert not missing, f"{query!r} asks for {missing}, not exported"
    assert collector.process.returncode == 0
    stored = _stored_sids(database_url)
    assert all(stored[sid] == 1 for sid in answered)


def test_sigterm_stops_every_worker_after_its_last_commit(
    emulator: EmulatorProcess, subaccount: tuple[str, str], sqlite_url: str, tmp_path: Path
):
    env = collector_environment(emulator.url)
    answered: dict[str, int] = {}
    stop = threading.Event()
    with collector_process(sqlite_url, env, tmp_path, ("--no-usage",), workers=2) as collector:
        workers = spawned_workers(collector.process.pid)
        metrics_directory = _metrics_directory(next(iter(workers)))
        assert metrics_directory.is_dir()
        sender = threading.Thread(
            target=_send, args=(collector, subaccount, 100_000, 8, answered, stop)
        )
        sender.start()
        wait_until(lambda: len(answered) >= 200, 60, "callbacks answered before SIGTERM")
        collector.process.send_signal(signal.SIGTERM)
        assert collector.process.wait(60) == 0
        stop.set()
        sender.join(60)
    assert not any(_alive(worker) for worker in workers)
    assert not metrics_directory.exists()  # a fresh directory per start, removed at exit
    acknowledged = [sid for sid, status in answered.items() if status == 200]
    stored = _stored_sids(sqlite_url)
    assert len(acknowledged) >= 200
    assert [sid for sid in acknowledged if stored[sid] != 1] == []


def test_a_killed_supervisor_leaves_no_worker_and_loses_no_acknowledged_callback(
    emulator: EmulatorProcess, subaccount: tuple[str, str], sqlite_url: str, tmp_path: Path
):
    env = collector_environment(emulator.url)
    port = free_port()
    answered: dict[str, int] = {}
    stop = threading.Event()
    with collector_process(
        sqlite_url, env, tmp_path, ("--no-usage",), port=port, workers=2
    ) as collector:
        workers = spawned_workers(collector.process.pid)
        assert len(workers) == 2
        sender = threading.Thread(
            target=_send, args=(collector, subaccount, 100_000, 8, answered, stop)
        )
        sender.start()
        wait_until(lambda: len(answered) >= 200, 60, "callbacks answered before the kill")
        os.kill(collector.process.pid, signal.SIGKILL)
        collector.process.wait(10)
        # Each worker gets SIGTERM from the kernel as its parent dies: it stops accepting,
        # answers what it holds after its commit, and exits.
        wait_until(
            lambda: not any(_alive(worker) for worker in workers), 60, "the orphaned workers' exit"
        )
        stop.set()
        sender.join(60)
    acknowledged = [sid for sid, status in answered.items() if status == 200]
    stored = _stored_sids(sqlite_url)
    assert len(acknowledged) >= 200
    assert [sid for sid in acknowledged if stored[sid] != 1] == []
    # Nobody holds the port any more: a new collector starts on it at once.
    restart = collector_process(sqlite_url, env, tmp_path, ("--no-usage",), port=port, workers=2)
    with restart as again:
        assert len(spawned_workers(again.process.pid)) == 2


def test_every_worker_refuses_through_the_gate_each_with_its_own_budget(
    emulator: EmulatorProcess, subaccount: tuple[str, str], sqlite_url: str, tmp_path: Path
):
    """A forger gets at most a burst of refusals from each worker, then its connections are cut
    off unread by whichever worker accepts them; /metrics counts the cut-offs of both."""
    env = collector_environment(emulator.url)
    budget = ("--refusal-burst", "3", "--refusals-per-second", "0.01", "--no-usage")
    with collector_process(sqlite_url, env, tmp_path, budget, workers=2) as collector:
        params, _ = _callback(collector, subaccount, 0)
        forged = {"X-Twilio-Signature": sign(collector.status_url, params, "not-the-token")}
        answers: Counter[int | str] = Counter()
        for _ in range(60):
            # From 127.0.0.2 (the scrapes below come from 127.0.0.1), a fresh connection each
            # time: the gate judges it before reading a byte.
            forger = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
            try:
                response = forger.post(collector.status_url, data=params, headers=forged)
                answers[response.status_code] += 1
            except httpx.TransportError:
                answers["cut off"] += 1
            finally:
                forger.close()
        assert set(answers) == {403, "cut off"}
        assert 3 <= answers[403] <= 2 * 3  # a burst per worker at most
        assert answers["cut off"] >= 60 - 2 * 3

        def cut_offs() -> float | None:
            page = _samples(httpx.get(collector.base_url + "/metrics", timeout=10).text)
            counted = page.get(("tlz_collector_connections_cut_off_total", ()), 0)
            return counted if counted == answers["cut off"] else None

        wait_until(cut_offs, 60, "both workers' cut-offs on /metrics")


def test_workers_that_cannot_start_end_the_collector_with_a_failure() -> None:
    # The database is unreachable: each worker's app fails before serving and uvicorn stops
    # the supervisor; `serve` must then exit non-zero, as one process does, not 0.
    unreachable = "postgresql://collector@127.0.0.1:1/delivery"
    env = collector_environment("http://127.0.0.1:1")
    served = collector_cli(
        ["serve", "--port", str(free_port()), "--workers", "2", "--db", unreachable], env
    )
    assert served.returncode == 1, served.stderr[-2000:]
    assert "Application startup failed" in served.stderr
