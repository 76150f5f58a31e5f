"""The CPU the program spends registering an N-customer group, with and without
components/sdk_registration.py, alternated in fresh processes (README "Speed, fifth pass"):

    .venv/bin/python -m bench.program_registration --customers 100 --repeat 3 [--no-change]

Each run is one process that builds the plan, then registers the landing zone through the
Pulumi SDK against an in-process resource monitor that answers as the engine does in a
preview (all new: SIDs unknown; `--no-change`: SIDs known). No engine, pack or provider runs,
so the numbers are the program's own registration CPU (`time.process_time`, all threads),
far less disturbed by other work on the machine than a whole check; compare the ratio.
components/sdk_overhead.py is installed in both (it is on main already).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "twilio-landing-zone"
VARIANTS = ("sdk", "replaced")


def _stack_file(customers: int, directory: Path) -> Path:
    import yaml

    from bench.estate_shape import COLLECTOR_URL, customer_keys, tenant

    architecture = {
        "style": "isv",
        "environments": ["production"],
        "tenants": [tenant(key) for key in customer_keys(customers)],
    }
    config = {f"{PROJECT}:collectorUrl": COLLECTOR_URL, f"{PROJECT}:architecture": architecture}
    path = directory / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


def register_once(variant: str, customers: int, no_change: bool) -> tuple[float, int]:
    """In this process: the CPU seconds of registering the group, and the resources registered."""
    import pulumi
    from google.protobuf import struct_pb2
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.sync_await import _sync_await

    from architecture import build_plan, load_stack_config
    from components import sdk_overhead, sdk_registration
    from components.landing_zone import LandingZone, LandingZoneArgs

    class NoMocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            raise AssertionError("the monitor answers registrations itself")

        def call(self, args):
            return {}

    class EngineLikeMonitor(mocks.MockMonitor):
        """A preview's answers: the inputs back, a SID unknown (all new) or known."""

        registered = 0

        def RegisterResource(self, request):  # the gRPC method's name
            self.registered += 1
            urn = self.make_urn(request.parent, request.type, request.name)
            if not request.custom:
                return resource_pb2.RegisterResourceResponse(urn=urn)
            outputs = struct_pb2.Struct()
            outputs.CopyFrom(request.object)
            digest = hashlib.sha256(request.name.encode()).hexdigest()[:32]
            outputs["sid"] = "XX" + digest if no_change else rpc.UNKNOWN
            resource_id = f"{request.name}-id" if no_change else ""
            return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=outputs)

        def RegisterResourceOutputs(self, request):
            return None

    with tempfile.TemporaryDirectory() as scratch:
        plan = build_plan(load_stack_config(_stack_file(customers, Path(scratch)), PROJECT))
    monitor = EngineLikeMonitor(NoMocks())
    pulumi.runtime.set_mocks(
        monitor.mocks, project=PROJECT, stack="prod", preview=True, monitor=monitor
    )
    sdk_overhead.install()
    if variant == "replaced":
        sdk_registration.install()

    def program() -> None:
        zone = LandingZone("landing-zone", LandingZoneArgs(plan=plan, state_mark="a1b2c3"))
        pulumi.export("tenants", zone.summary())
        pulumi.export("names", zone.name_map())
        pulumi.export("api_key_secrets", zone.api_key_secrets())

    started = time.process_time()
    _sync_await(mocks.run_pulumi_func(program))
    return time.process_time() - started, monitor.registered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-change", action="store_true")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one run
    args = parser.parse_args()
    if args.variant:
        cpu, registered = register_once(args.variant, args.customers, args.no_change)
        print(f"{cpu:.3f} {registered}")
        return 0
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    state = "no change" if args.no_change else "all new"
    for round_ in range(args.repeat):
        order = VARIANTS if round_ % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            command = [sys.executable, "-m", "bench.program_registration", "--variant", variant]
            command += ["--customers", str(args.customers)]
            command += ["--no-change"] if args.no_change else []
            answer = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.split()
            cpu[variant].append(float(answer[0]))
            print(
                f"{variant:8} {state}: {answer[1]} registrations, {float(answer[0]):.2f} CPU s, "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    sdk, replaced = statistics.median(cpu["sdk"]), statistics.median(cpu["replaced"])
    print(
        f"median CPU of registering {args.customers} customers ({state}): SDK {sdk:.2f} s, "
        f"replaced {replaced:.2f} s, ratio {replaced / sdk:.2f}; load {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
