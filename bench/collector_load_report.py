"""The collector load test's report: one table of every receiver and level, then ratios."""

from __future__ import annotations

from bench.collector_load_measure import BASELINE_SUFFIX, LevelResult
from bench.collector_load_shape import NAIVE, receiver_name, split_name


def render(results: list[LevelResult]) -> str:
    lines = [
        "median round of each receiver and level (rows: that round; loss: all rounds)",
        f"{'receiver':<18} {'conc':>4} {'events':>7} {'2xx':>7} {'stored':>7} {'loss':>4}"
        f" {'events/s':>8} {'p50 ms':>7} {'p99 ms':>8} {'loader CPU':>10} {'server CPU':>10}"
        f" {'events/commit':>13} {'commit ms':>9}  rounds (events/s)",
    ]
    for r in results:
        stored = "-" if r.stored is None else str(r.stored)
        loss = "-" if r.stored is None else str(r.lost)
        per_commit = (
            f" {r.ok / r.batches:>13.1f} {r.commit_ms:>9.2f}"
            if r.batches and r.commit_ms is not None
            else f" {'1 (each)' if split_name(r.receiver)[0] in NAIVE else '-':>13} {'-':>9}"
        )
        lines.append(
            f"{r.receiver:<18} {r.concurrency:>4} {r.sent:>7} {r.ok:>7} {stored:>7} {loss:>4}"
            f" {r.rate:>8.0f} {r.percentile(0.5):>7.2f} {r.percentile(0.99):>8.2f}"
            f" {r.loader_cpu * 100:>9.0f}% {r.server_cpu * 100:>9.0f}%"
            + per_commit
            + "  "
            + " ".join(str(rate) for rate in r.rounds)
        )
    by_key = {(r.receiver, r.concurrency): r for r in results}
    lines.append("")
    for r in results:
        base = by_key.get((r.receiver + BASELINE_SUFFIX, r.concurrency))
        if base is not None and base.rate:
            lines.append(
                f"concurrency {r.concurrency:>2}: {r.receiver} {r.rate:,.0f}/s vs the baseline "
                f"checkout's {base.rate:,.0f}/s = {r.rate / base.rate:.2f}x; rounds "
                f"{' '.join(map(str, r.rounds))} vs {' '.join(map(str, base.rounds))}; server "
                f"CPU per event {r.cpu_per_event_us:.0f} vs {base.cpu_per_event_us:.0f} us"
            )
    # Like with like: the collector against the best naive receiver with as many processes.
    counts = sorted({split_name(r.receiver)[1] for r in results})
    for concurrency in sorted({r.concurrency for r in results}):
        for workers in counts:
            naive = [
                by_key[(receiver_name(n, workers), concurrency)]
                for n in NAIVE
                if (receiver_name(n, workers), concurrency) in by_key
            ]
            group = by_key.get((receiver_name("group-commit", workers), concurrency))
            if not naive or group is None:
                continue
            best = max(naive, key=lambda r: r.rate)
            ratio = group.rate / best.rate if best.rate else float("inf")
            scraped = (
                f"; /metrics scraped {group.scrapes}x over its rounds, {group.scrape_ms:.1f} ms"
                " each"
                if group.scrapes and group.scrape_ms is not None
                else ""
            )
            lines.append(
                f"concurrency {concurrency:>2}, {workers} worker process"
                f"{'es' if workers > 1 else ''}: collector {group.rate:,.0f}/s vs best naive "
                f"({best.receiver}) {best.rate:,.0f}/s = {ratio:.1f}x; p99 "
                f"{group.percentile(0.99):.2f} ms vs {best.percentile(0.99):.2f} ms; server CPU "
                f"{group.server_cpu:.0%} vs {best.server_cpu:.0%} of a core{scraped}"
            )
        for workers in counts[1:]:
            one = by_key.get((receiver_name("group-commit", 1), concurrency))
            many = by_key.get((receiver_name("group-commit", workers), concurrency))
            if one is not None and many is not None and one.ok and many.ok:
                lines.append(
                    f"concurrency {concurrency:>2}: collector with {workers} workers "
                    f"{many.rate:,.0f}/s vs 1 worker {one.rate:,.0f}/s = "
                    f"{many.rate / one.rate:.2f}x; server CPU per event "
                    f"{many.cpu_per_event_us:.0f} vs {one.cpu_per_event_us:.0f} us, loader "
                    f"{many.loader_cpu * many.seconds / many.ok * 1e6:.0f} vs "
                    f"{one.loader_cpu * one.seconds / one.ok * 1e6:.0f} us"
                )
    return "\n".join(lines)
