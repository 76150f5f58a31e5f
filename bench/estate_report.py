"""The benchmark's printed report: tables of times and ratios, routes and profiles."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from bench.estate_runs import LayoutResult, OpResult, Settings

# --- the report -----------------------------------------------------------------------------


def _fmt_s(seconds: float | None) -> str:
    return "      -" if seconds is None else f"{seconds:6.1f}s"


def _cell(op: OpResult | None) -> str:
    """`  12.3s (  456)`: an operation's wall time and its Twilio calls."""
    return f"{_fmt_s(None)} (    -)" if op is None else f"{_fmt_s(op.wall)} ({op.calls:5d})"


def _layout(result: LayoutResult) -> str:
    return result.layout if result.layout == "one" else f"split/{result.groups}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:5.2f}"


def _growth(points: list[tuple[int, float]]) -> str:
    """Cost per customer at each N, and the exponent k of time ~ N^k between the ends."""
    if not points:
        return "-"
    per = ", ".join(f"N={n}: {t / n * 1000:.0f} ms" for n, t in points)
    steps = [
        f"N={n1}->{n2}: N^{math.log(t2 / t1) / math.log(n2 / n1):.2f}"
        for (n1, t1), (n2, t2) in itertools.pairwise(points)
        if n2 != n1 and t1 > 0 and t2 > 0
    ]
    return per + (f"  (time grows as {', '.join(steps)})" if steps else "")


def print_report(
    results: list[LayoutResult],
    floors: dict[tuple[int, float], OpResult],
    levers: list[tuple[str, LayoutResult]],
    latency_ms: float,
    settings: Settings,
    out: Callable[[str], None] = print,
) -> None:
    main = [r for r in results if r.latency_ms == latency_ms]
    zero = [r for r in results if r.latency_ms == 0 and latency_ms != 0]
    out("")
    out(f"== Estate benchmark: {settings.label()}; emulator latency {latency_ms:g} ms ==")
    out(
        "N     layout       up      floor  up/floor   preview (calls)   refresh (calls, per obj)"
        "   destroy (calls)   up calls/customer  state/resource  state/Twilio object"
    )
    for r in main:
        floor = floors.get((r.customers, r.latency_ms))
        up, refresh = r.ops["up"], r.ops.get("refresh")
        total, resources, twilio = r.state
        per_object = f"{refresh.calls / r.objects:4.2f}" if refresh and r.objects else "   -"
        out(
            f"{r.customers:<5} {_layout(r):<9} {_fmt_s(up.wall)} {_fmt_s(floor and floor.wall)}"
            f"  {_ratio(up.wall, floor and floor.wall)}   {_cell(r.ops.get('preview'))}"
            f"   {_cell(refresh)[:-1]}, {per_object})   {_cell(r.ops.get('destroy'))}"
            f"   {up.calls / r.customers:12.1f}"
            f"        {total / resources / 1024 if resources else 0:6.2f} KB"
            f"      {total / twilio / 1024 if twilio else 0:6.2f} KB"
        )
    floor_calls = {n: f.calls for (n, lat), f in floors.items() if lat == latency_ms}
    if floor_calls:
        n, calls = max(floor_calls.items())
        out(f"floor: {calls} creates for N={n} ({calls / n:.0f} per customer), 16 threads")
    unprotect = [r.ops["unprotect"].wall for r in main if "unprotect" in r.ops]
    if unprotect:
        out(
            "destroy is preceded by `pulumi state unprotect --all` (production estate), "
            f"not counted above: {min(unprotect):.1f}-{max(unprotect):.1f}s"
        )
    notes = [
        f"N={r.customers} {r.layout}: refresh found {r.ops['refresh'].note}"
        for r in main
        if "refresh" in r.ops and r.ops["refresh"].note != "no changes"
    ]
    notes += [f"N={r.customers} {r.layout}: {p}" for r in results for p in r.problems]
    for note in notes:
        out(f"  ! {note}")

    if zero:
        out("")
        out("== Ratio at 0 ms (loopback: orchestration CPU against the client's own) ==")
        out("N     layout      up      floor  up/floor")
        for r in zero:
            floor = floors.get((r.customers, 0))
            up = r.ops["up"]
            layout = r.layout if r.layout == "one" else f"split/{r.groups}"
            out(
                f"{r.customers:<5} {layout:<9} {_fmt_s(up.wall)} "
                f"{_fmt_s(floor.wall if floor else None)}  {_ratio(up.wall, floor and floor.wall)}"
            )

    if main:
        _print_routes(main[-1] if len(main) == 1 else _largest(main), floors, out)

    out("")
    out("== How up grows with N (time per customer) ==")
    for layout in dict.fromkeys(r.layout for r in main):
        points = [(r.customers, r.ops["up"].wall) for r in main if r.layout == layout]
        out(f"{layout:<6} {_growth(points)}")
    floor_points = sorted((n, f.wall) for (n, lat), f in floors.items() if lat == latency_ms)
    out(f"floor  {_growth(floor_points)}")

    out("")
    out(f"== Where up's time goes ({latency_ms:g} ms) ==")
    out(
        "N     layout      wall   provider busy  in flight (peak)  CPU engine  program"
        "  provider  emulator  cores busy"
    )
    for r in main:
        _split_line(r.customers, r.layout, r.groups, r.ops["up"], out)
    for (n, lat), floor in sorted(floors.items()):
        if lat == latency_ms:
            _split_line(n, "floor", 0, floor, out)

    if levers:
        out("")
        n = levers[0][1].customers
        out(f"== Levers, one at a time (up of N={n}, one run each, side by side) ==")
        out(
            "settings                                                         wall  up/floor"
            "  engine CPU  program  provider  provider busy  in flight  state/resource"
        )
        for label, r in levers:
            up = r.ops["up"]
            floor = floors.get((r.customers, r.latency_ms))
            total, resources, _ = r.state
            out(
                f"{label:<62} {_fmt_s(up.wall)}  {_ratio(up.wall, floor and floor.wall)}"
                f"    {up.cpu.engine:7.1f}s  {up.cpu.program:6.1f}s  {up.cpu.provider:7.1f}s"
                f"  {up.provider.busy:12.1f}s  {up.provider.mean_in_flight:6.1f}"
                f"     {total / resources / 1024 if resources else 0:6.2f} KB"
            )
        labels = [label for label, _ in levers[:2]]
        if len(labels) == 2 and labels[0].startswith("Pulumi defaults") and "SKIP" in labels[1]:
            kept, skipped = levers[0][1].ops["up"], levers[1][1].ops["up"]
            out(
                f"per-step checkpoints cost {kept.wall - skipped.wall:.1f}s of wall time and "
                f"{kept.cpu.engine - skipped.cpu.engine:.1f}s of engine CPU here (rows 1-2); "
                "with PULUMI_SKIP_CHECKPOINTS the state is written once, at the end"
            )


def _largest(results: list[LayoutResult]) -> LayoutResult:
    return max(results, key=lambda r: (r.customers, r.layout == "one"))


def _print_routes(r: LayoutResult, floors: dict, out) -> None:
    """Twilio calls per operation and route, per customer, for one layout."""
    columns = [(name, r.ops.get(name)) for name in ("up", "preview", "refresh", "destroy")]
    columns = [(name, op) for name, op in columns if op is not None]
    floor = floors.get((r.customers, r.latency_ms))
    if floor is not None:
        columns.append(("floor", floor))
    routes = sorted(set().union(*(op.routes for _, op in columns)))
    out("")
    out(f"== Twilio calls per customer by route (N={r.customers}, {_layout(r)}) ==")
    out(f"{'route':<82}" + "".join(f"{name:>9}" for name, _ in columns))
    for route in routes:
        cells = "".join(f"{op.routes.get(route, 0) / r.customers:9.2f}" for _, op in columns)
        out(f"{route[:81]:<82}{cells}")
    totals = "".join(f"{op.calls / r.customers:9.2f}" for _, op in columns)
    out(f"{'all':<82}{totals}")


def _split_line(n: int, layout: str, groups: int, op: OpResult, out) -> None:
    cpu = op.cpu
    if layout == "floor":
        out(
            f"{n:<5} {'floor':<9} {_fmt_s(op.wall)}  (16 threads; the script's own CPU: "
            f"{cpu.script:.1f}s, emulator {cpu.emulator:.1f}s)"
            f"{(cpu.script + cpu.emulator) / op.wall if op.wall else 0:37.2f}"
        )
        return
    label = layout if layout == "one" else f"split/{groups}"
    busy = cpu.orchestration + cpu.emulator
    out(
        f"{n:<5} {label:<9} {_fmt_s(op.wall)}  {op.provider.busy:11.1f}s"
        f"  {op.provider.mean_in_flight:7.1f} ({op.provider.peak:>3})"
        f"      {cpu.engine:7.1f}s {cpu.program:7.1f}s {cpu.provider:8.1f}s {cpu.emulator:8.1f}s"
        f"   {busy / op.wall if op.wall else 0:6.2f}"
    )
