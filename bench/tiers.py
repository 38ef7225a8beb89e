"""Cold start and warm latency by Cloud Functions instance size (CPU quota + memory limit).

    sudo python bench/tiers.py                  # full run: bench/tiers.{json,png} (~16 min)
    sudo python bench/tiers.py --quick          # 1 cold start at 256 MiB and 2 GiB (~1 min)
    sudo python bench/tiers.py --boost          # also each variant with startup CPU boost
    sudo python bench/tiers.py --boost-only --merge bench/tiers.json   # add the boosted curve
    sudo python bench/tiers.py --variants forest --merge bench/tiers.json   # add the forest
    python bench/tiers.py --plot-only bench/tiers.json   # redraw the plot and tables

Each server (the naive baseline, this project on ONNX and on scikit-learn, all serving
train.py's default model; and "forest": this project on ONNX serving train.py's 100-tree
RandomForest, `--estimator random_forest`) is a real functions-framework process started
inside a cgroup with the tier's CPU quota and memory limit; a cold start is spawn to first
prediction answered. Needs root and cgroup v1.

Startup CPU boost (Cloud Run gives an instance of 1 vCPU or less 2 vCPU while it starts and
for 10 s after) is simulated in the same cgroup: a 2 vCPU quota at spawn, the tier's quota
written 10 s after the port first accepts a connection. Its variants are named NAME+boost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import socket
import statistics
import sys
import threading
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cgroups import Limits, NoCpuController
from common import REPO, Variant, memory_mb, post, sample_rows, trained_model, variants

from tests.support.servers import Server, start_server

BENCH = REPO / "bench"

# Google's published figures, as read on 2026-11-26 (stored copies; see docs/deploying.md,
# "Choosing memory and CPU"): memory -> default vCPU from
# https://cloud.google.com/functions/docs/configuring/memory, and Tier 1 request-based
# prices from https://cloud.google.com/run/pricing (Cloud Run functions bill at Cloud Run
# rates: https://cloud.google.com/functions/pricing).
USD_PER_VCPU_SECOND = 0.000024
USD_PER_GIB_SECOND = 0.0000025
USD_PER_REQUEST = 0.40 / 1_000_000
BILLING_STEP_S = 0.1
SECONDS_PER_MONTH = 30 * 24 * 3600
# Startup CPU boost: https://cloud.google.com/run/docs/configuring/services/cpu#startup-boost
# (billed like any CPU while it lasts).
BOOST_VCPU = 2.0
BOOST_WINDOW_S = 10.0
BOOST_SUFFIX = "+boost"
# The variants a run can start (--variants); "forest" is a 100-tree RandomForest on ONNX.
VARIANT_NAMES = ("baseline", "onnx", "sklearn", "forest")
LEGEND = {"forest": "onnx, 100-tree forest"}


@dataclass(frozen=True)
class Tier:
    """One instance size: memory and the CPU share Cloud Functions gives it by default."""

    memory_mib: int
    vcpu: float

    @property
    def label(self) -> str:
        size = (
            f"{self.memory_mib // 1024} GiB"
            if self.memory_mib >= 1024
            else f"{self.memory_mib} MiB"
        )
        return f"{size} / {self.vcpu:g} vCPU"

    @property
    def threads(self) -> int:
        """gunicorn threads: concurrency is 1 below 1 vCPU; else the framework's 4 x cores."""
        return 1 if self.vcpu < 1 else 4 * int(self.vcpu)


TIERS = (
    Tier(128, 0.083),
    Tier(256, 0.167),
    Tier(512, 0.333),
    Tier(1024, 0.583),
    Tier(2048, 1.0),
    Tier(4096, 2.0),
)
QUICK_TIERS = (TIERS[1], TIERS[4])


def tier_for(memory_mib: int) -> Tier:
    """The tier with this much memory."""
    for tier in TIERS:
        if tier.memory_mib == memory_mib:
            return tier
    known = ", ".join(str(t.memory_mib) for t in TIERS)
    raise ValueError(f"no tier with {memory_mib} MiB; expected one of {known}")


def billed_seconds(seconds: float) -> float:
    """Seconds rounded up to the 100 ms billing step."""
    return math.ceil(round(seconds / BILLING_STEP_S, 6)) * BILLING_STEP_S


def usd_per_second(tier: Tier) -> float:
    """What one busy instance of this tier costs per second (request-based billing)."""
    return tier.vcpu * USD_PER_VCPU_SECOND + tier.memory_mib / 1024 * USD_PER_GIB_SECOND


def usd_per_million(tier: Tier, request_seconds: float) -> float:
    """Cost of a million requests that each take `request_seconds`, one at a time."""
    return 1_000_000 * (billed_seconds(request_seconds) * usd_per_second(tier) + USD_PER_REQUEST)


def boost_vcpu(tier: Tier) -> float | None:
    """The CPU a boosted start gets, or None where this 2-core machine cannot simulate it."""
    return BOOST_VCPU if tier.vcpu <= 1.0 else None


def usd_cold_start(tier: Tier, seconds: float, boosted: bool) -> float:
    """What one cold start of `seconds` costs, billed at the boosted CPU while it lasts."""
    vcpu = BOOST_VCPU if boosted and boost_vcpu(tier) else tier.vcpu
    boosted_s = min(seconds, BOOST_WINDOW_S) if boosted else 0.0
    memory = tier.memory_mib / 1024 * USD_PER_GIB_SECOND
    return (
        boosted_s * vcpu * USD_PER_VCPU_SECOND
        + (seconds - boosted_s) * tier.vcpu * USD_PER_VCPU_SECOND
        + seconds * memory
    )


def usd_min_instance_month(tier: Tier) -> float:
    """Upper bound for one instance kept warm a whole month (billed as if always busy)."""
    return usd_per_second(tier) * SECONDS_PER_MONTH


@dataclass
class Outcome:
    """Everything measured for one variant at one tier."""

    tier: Tier
    variant: str
    cold_starts_s: list[float] = field(default_factory=list)
    cold_cpu_s: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    pss_mib: float | None = None
    cgroup_peak_mib: float | None = None
    fits: bool = True

    @property
    def over_limit(self) -> bool:
        """Survived, but its PSS exceeds the tier's memory (shared pages charged elsewhere)."""
        return self.pss_mib is not None and self.pss_mib > self.tier.memory_mib

    def summary(self) -> dict[str, float | None]:
        """Medians and spread; None where nothing was measured."""
        return {
            "cold_start_s": median(self.cold_starts_s),
            "cold_start_min_s": min(self.cold_starts_s, default=None),
            "cold_start_max_s": max(self.cold_starts_s, default=None),
            "cold_cpu_s": median(self.cold_cpu_s),
            "warm_p50_ms": median(self.warm_ms),
            "warm_p90_ms": percentile(self.warm_ms, 90),
        }


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], pct: int) -> float | None:
    """The pct-th percentile (inclusive method); the value itself for one sample."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


class DoesNotFit(RuntimeError):
    """The server was OOM-killed under the tier's memory limit."""


class BoostEnd(threading.Thread):
    """Writes the tier's quota `window` seconds after the port first accepts a connection."""

    def __init__(
        self, port: int, process_alive: Any, set_cpu: Any, vcpu: float, window: float
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.process_alive, self.set_cpu = port, process_alive, set_cpu
        self.vcpu, self.window = vcpu, window
        self.stopped = threading.Event()
        self.port_open_at: float | None = None

    def run(self) -> None:
        while not self.stopped.is_set() and self.process_alive():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    self.port_open_at = time.perf_counter()
                    break
            except OSError:
                self.stopped.wait(0.01)
        if self.port_open_at is not None:
            self.stopped.wait(self.window)
        self.set_cpu(self.vcpu)

    def stop(self) -> None:
        """End the boost now (the quota is written before this returns)."""
        self.stopped.set()
        self.join(timeout=5)


def first_answer(
    variant: Variant, body: bytes, tier: Tier, limits: Limits, timeout: float
) -> tuple[float, float | None, Server]:
    """Spawn the variant inside the limits: wall and CPU seconds to its first 200, the server.

    A NAME+boost variant starts at BOOST_VCPU; the tier's quota comes back BOOST_WINDOW_S
    after its port opens, or when the server is stopped, whichever is first.
    """
    kills = limits.oom_kills()
    limits.reset_cpu()
    env = {**variant.env, "WORKERS": "1", "THREADS": str(tier.threads)}
    boosted = variant.name.endswith(BOOST_SUFFIX)
    if boosted:
        limits.set_cpu(BOOST_VCPU)
    started = time.perf_counter()
    server = start_server(env, source=variant.source, wait=False, preexec=limits.join)
    port = int(server.url.rsplit(":", 1)[1])
    if boosted:
        boost = BoostEnd(
            port,
            lambda: server.process.poll() is None,
            limits.set_cpu,
            tier.vcpu,
            BOOST_WINDOW_S,
        )
        boost.start()
        stop = server.stop

        def stop_and_end_boost() -> None:
            stop()
            boost.stop()

        server.stop = stop_and_end_boost  # type: ignore[method-assign]
    try:
        while time.perf_counter() - started < timeout:
            if limits.oom_kills() > kills:
                raise DoesNotFit(f"{variant.name} OOM-killed at {tier.label}")
            if server.process.poll() is not None:
                raise RuntimeError(f"{variant.name} exited early:\n{server.logs()[-2000:]}")
            try:
                status, _ = post(f"http://127.0.0.1:{port}/", body, timeout=timeout)
            except (ConnectionError, urllib.error.URLError, TimeoutError):
                time.sleep(0.01)
                continue
            if status == 200:
                return time.perf_counter() - started, limits.cpu_seconds(), server
            if limits.oom_kills() > kills:
                raise DoesNotFit(f"{variant.name} OOM-killed at {tier.label}")
            raise RuntimeError(f"{variant.name} answered {status}:\n{server.logs()[-2000:]}")
        raise TimeoutError(f"{variant.name}: no answer within {timeout} s at {tier.label}")
    except BaseException:
        server.stop()
        raise


def warm_latencies(url: str, body: bytes, count: int, warmup: int) -> list[float]:
    """Milliseconds per request, one at a time, after a warm-up."""
    timings = []
    for i in range(warmup + count):
        started = time.perf_counter()
        status, answer = post(url, body)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"warm request answered {status}: {answer[:200]!r}")
        if i >= warmup:
            timings.append(elapsed * 1000)
    return timings


def measure_tier(
    tier: Tier, servers: list[Variant], body: bytes, args: argparse.Namespace
) -> list[Outcome]:
    """Cold starts (interleaved across variants) and warm latency, inside one cgroup."""
    outcomes = {v.name: Outcome(tier, v.name) for v in servers}
    limits = Limits.create(f"tiers-bench-{os.getpid()}-{tier.memory_mib}")
    try:
        if limits.memory_note:
            print(f"  note: {limits.memory_note}", flush=True)
        limits.set(tier.vcpu, None if args.no_memory_limit else tier.memory_mib)
        for repeat in range(args.repeats):
            for variant in servers:
                outcome = outcomes[variant.name]
                if not outcome.fits:
                    continue
                limits.reset_peak()
                try:
                    seconds, cpu, server = first_answer(variant, body, tier, limits, args.timeout)
                except DoesNotFit as error:
                    print(f"  {error}: does not fit", flush=True)
                    outcome.fits = False
                    limits.empty()
                    continue
                try:
                    outcome.cold_starts_s.append(seconds)
                    if cpu is not None:
                        outcome.cold_cpu_s.append(cpu)
                    used = "" if cpu is None else f" ({cpu:.2f} CPU-s)"
                    print(f"  {variant.name:<8} cold start {seconds:7.2f} s{used}", flush=True)
                    if repeat == args.repeats - 1 and not variant.name.endswith(BOOST_SUFFIX):
                        outcome.warm_ms = warm_latencies(server.url, body, args.requests, 3)
                        outcome.pss_mib = memory_mb(server.process.pid)[2]
                        outcome.cgroup_peak_mib = limits.peak_mib()
                finally:
                    server.stop()
                    limits.empty()
    finally:
        limits.remove()
    return list(outcomes.values())


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": load_average(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work sharing the machine)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def to_json(
    outcomes: list[Outcome], info: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """Raw figures, summaries and the run's settings."""
    return {
        "machine": info,
        "settings": {"repeats": args.repeats, "requests": args.requests},
        "results": [
            {**asdict(o), "tier": asdict(o.tier), "summary": o.summary()} for o in outcomes
        ],
    }


def from_json(data: dict[str, Any]) -> list[Outcome]:
    """Outcomes back from `to_json` output."""
    outcomes = []
    for row in data["results"]:
        fields = {k: v for k, v in row.items() if k not in ("tier", "summary")}
        outcomes.append(Outcome(Tier(**row["tier"]), **fields))
    return outcomes


def _cell(value: float | None, fmt: str, outcome: Outcome) -> str:
    if not outcome.fits:
        return "does not fit"
    if value is None:
        return "-"
    return format(value, fmt) + ("*" if outcome.over_limit else "")


def results_table(outcomes: list[Outcome]) -> str:
    """Markdown: cold start and warm p50 per tier and variant, with memory (PSS).

    A figure marked * comes from a server whose PSS is above the tier's memory: it lived
    only because library pages already cached on this machine are charged to another cgroup.
    """
    names = list(dict.fromkeys(o.variant for o in outcomes))
    head = ["tier"]
    head += [f"{n} cold start (s)" for n in names]
    head += [f"{n} CPU-s to first answer" for n in names]
    head += [f"{n} warm p50 (ms)" for n in names]
    head += [f"{n} PSS (MiB)" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for tier in dict.fromkeys(o.tier for o in outcomes):
        # A variant not measured at this tier (no boost above 1 vCPU) is an empty outcome.
        by_name = {n: Outcome(tier, n) for n in names}
        by_name.update({o.variant: o for o in outcomes if o.tier == tier})
        cells = [tier.label]
        for key, fmt in (("cold_start_s", ".2f"), ("cold_cpu_s", ".2f"), ("warm_p50_ms", ".1f")):
            cells += [_cell(by_name[n].summary()[key], fmt, by_name[n]) for n in names]
        cells += [_cell(by_name[n].pss_mib, ".0f", by_name[n]) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def boost_table(outcomes: list[Outcome]) -> str:
    """Markdown: cold start and its cost with and without startup CPU boost, per variant."""
    head = [
        "tier",
        "variant",
        "cold start (s)",
        "boosted (s)",
        "USD per 1,000 cold starts",
        "boosted: USD per 1,000",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    by_key = {(o.tier, o.variant): o for o in outcomes}
    for o in outcomes:
        boosted = by_key.get((o.tier, o.variant + BOOST_SUFFIX))
        plain, fast = o.summary()["cold_start_s"], boosted and boosted.summary()["cold_start_s"]
        if boosted is None or plain is None or not fast:
            continue
        row = [
            o.tier.label,
            o.variant,
            f"{plain:.2f}",
            f"{fast:.2f}",
            f"{1000 * usd_cold_start(o.tier, plain, boosted=False):.4f}",
            f"{1000 * usd_cold_start(o.tier, fast, boosted=True):.4f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def cost_table(outcomes: list[Outcome], variant: str = "onnx") -> str:
    """Markdown: what a tier costs per million warm requests and per month kept warm."""
    head = [
        "tier",
        "USD per busy second",
        f"{variant} warm p50 (ms)",
        "billed per request (s)",
        "USD per million requests",
        f"USD per 1,000 cold starts ({variant})",
        "USD per month, 1 min-instance (upper bound)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for o in outcomes:
        if o.variant != variant:
            continue
        p50 = o.summary()["warm_p50_ms"]
        cold = o.summary()["cold_start_s"]
        if not o.fits or p50 is None:
            cells = ["does not fit"] * 5
        else:
            cold_cost = "-" if cold is None else f"{1000 * cold * usd_per_second(o.tier):.4f}"
            cells = [
                f"{p50:.1f}",
                f"{billed_seconds(p50 / 1000):.1f}",
                f"{usd_per_million(o.tier, p50 / 1000):.2f}",
                cold_cost,
                f"{usd_min_instance_month(o.tier):.2f}",
            ]
        row = [o.tier.label, f"{usd_per_second(o.tier):.3e}", *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def quota_bound_s(outcome: Outcome) -> float | None:
    """The cold start the quota alone allows: CPU-seconds used over the tier's CPU share.

    Start-up is one thread, so a share above one CPU is not counted. Measured times above
    this line are the machine's other work, not the quota.
    """
    cpu = outcome.summary()["cold_cpu_s"]
    return None if cpu is None else cpu / min(outcome.tier.vcpu, 1.0)


def plot(outcomes: list[Outcome], path: Path, title: str = "") -> None:
    """Cold start and warm p50 against tier, one line per variant; OOM tiers marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    tiers = list(dict.fromkeys(o.tier for o in outcomes))
    xs = {t: i for i, t in enumerate(tiers)}
    figure, (cold_ax, warm_ax) = plt.subplots(1, 2, figsize=(12, 4.8))
    colors: dict[str, str] = {}
    for name in dict.fromkeys(o.variant for o in outcomes):
        rows = [o for o in outcomes if o.variant == name]
        boosted = name.endswith(BOOST_SUFFIX)
        base = name.removesuffix(BOOST_SUFFIX)
        color = colors.setdefault(base, f"C{len(colors)}")
        fitted = [o for o in rows if o.fits and o.cold_starts_s]
        x = [xs[o.tier] for o in fitted]
        mid = [statistics.median(o.cold_starts_s) for o in fitted]
        low = [m - min(o.cold_starts_s) for m, o in zip(mid, fitted, strict=True)]
        high = [max(o.cold_starts_s) - m for m, o in zip(mid, fitted, strict=True)]
        line = cold_ax.errorbar(
            x,
            mid,
            yerr=[low, high],
            marker="s" if boosted else "o",
            capsize=3,
            label=LEGEND.get(base, base) + (" + startup CPU boost" if boosted else ""),
            color=color,
            linestyle="-." if boosted else "-",
            alpha=0.8 if boosted else 1.0,
        )
        bound = [(xs[o.tier], quota_bound_s(o)) for o in fitted if o.cold_cpu_s]
        if bound and not boosted:
            cold_ax.plot(*zip(*bound, strict=True), linestyle="--", color=line[0].get_color())
        warm = [(xs[o.tier], o.summary()["warm_p50_ms"]) for o in fitted if o.warm_ms]
        if warm:
            color = line[0].get_color()
            warm_ax.plot(
                *zip(*warm, strict=True),
                marker="o",
                label=f"{LEGEND.get(name, name)} p50",
                color=color,
            )
            tail = [(xs[o.tier], o.summary()["warm_p90_ms"]) for o in fitted if o.warm_ms]
            warm_ax.plot(*zip(*tail, strict=True), linestyle=":", color=color)
        for o in rows:
            if not o.fits:
                cold_ax.plot(
                    xs[o.tier],
                    0.04,
                    marker="x",
                    markersize=10,
                    color=line[0].get_color(),
                    transform=cold_ax.get_xaxis_transform(),
                )
    labels = [t.label.replace(" / ", "\n") for t in tiers]
    for ax, ylabel in ((cold_ax, "cold start, median (s)"), (warm_ax, "warm latency (ms)")):
        ax.set_xticks(range(len(tiers)), labels)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    cold_ax.set_title(
        "Spawn to first prediction (bars: min-max; dashed: CPU-s / min(vCPU, 1);\n"
        "dash-dot: 2 vCPU until 10 s after the port opens; x: does not fit)",
        fontsize=10,
    )
    warm_ax.set_title("Warm: one-row request, one at a time\n(solid: p50; dotted: p90)", size=10)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 cold start at 256 MiB and 2 GiB")
    parser.add_argument("--tiers", help="comma-separated memory sizes in MiB, e.g. 256,2048")
    parser.add_argument("--repeats", type=int, help="cold starts per tier and variant")
    parser.add_argument("--requests", type=int, help="warm requests per tier and variant")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per cold start")
    parser.add_argument("--no-memory-limit", action="store_true", help="CPU quota only")
    parser.add_argument("--json", type=Path, help="write raw figures here")
    parser.add_argument("--png", type=Path, help="write the plot here")
    parser.add_argument("--plot-only", type=Path, metavar="JSON", help="redraw from a JSON")
    parser.add_argument("--boost", action="store_true", help="also measure NAME+boost variants")
    parser.add_argument("--boost-only", action="store_true", help="only the NAME+boost variants")
    parser.add_argument(
        "--merge", type=Path, metavar="JSON", help="keep that run's results not measured now"
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANT_NAMES),
        help=f"comma-separated, from {', '.join(VARIANT_NAMES)} (default: all)",
    )
    args = parser.parse_args(argv)
    if args.tiers:
        args.tier_list = [tier_for(int(m)) for m in args.tiers.split(",")]
    else:
        args.tier_list = list(QUICK_TIERS if args.quick else TIERS)
    args.variant_names = args.variants.split(",")
    unknown = sorted(set(args.variant_names) - set(VARIANT_NAMES))
    if unknown:
        parser.error(f"unknown variants {', '.join(unknown)}; expected {', '.join(VARIANT_NAMES)}")
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.requests = args.requests or (10 if args.quick else 40)
    if not args.quick and not args.plot_only:
        args.json = args.json or BENCH / "tiers.json"
        args.png = args.png or BENCH.parent / "tiers.png"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.plot_only:
        data = json.loads(args.plot_only.read_text())
        stored = from_json(data)
        print(results_table(stored), cost_table(stored), boost_table(stored), sep="\n\n")
        plot(stored, args.png or args.plot_only.with_suffix(".png"), _title(data["machine"]))
        return 0
    try:
        Limits.create(f"tiers-bench-{os.getpid()}-probe").remove()
    except NoCpuController as error:
        print(f"tiers: {error}; nothing measured", file=sys.stderr)
        return 2
    # A plain `kill` still stops the servers and removes the cgroups (finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    info = machine() | {"variants": ",".join(args.variant_names)}
    outcomes: list[Outcome] = []
    with contextlib.ExitStack() as stack:
        plain, body = served_variants(stack, args.variant_names)
        for tier in args.tier_list:
            servers = measured_variants(plain, tier, args.boost, args.boost_only)
            print(f"{tier.label} (THREADS={tier.threads})", flush=True)
            outcomes += measure_tier(tier, servers, body, args)
    info["load_after"] = load_average()
    if args.merge:
        merged = json.loads(args.merge.read_text())
        outcomes = merge(from_json(merged), outcomes)
        info = merged_info(merged["machine"], info, args.boost_only)
    if args.json:
        args.json.write_text(json.dumps(to_json(outcomes, info, args), indent=1) + "\n")
    print(results_table(outcomes), cost_table(outcomes), boost_table(outcomes), sep="\n\n")
    if args.png:
        plot(outcomes, args.png, _title(info))
    return 0


def served_variants(stack: contextlib.ExitStack, names: list[str]) -> tuple[list[Variant], bytes]:
    """The named variants and a one-row body they all accept (both models are fitted on
    breast_cancer); only the models they serve are trained, into temp folders that last as
    long as `stack`."""
    chosen: list[Variant] = []
    rows: list[list[float]] = []
    if set(names) - {"forest"}:
        model_dir = stack.enter_context(trained_model())
        chosen += [v for v in variants(model_dir) if v.name in names]
        rows = sample_rows(model_dir, 1)
    if "forest" in names:
        forest_dir = stack.enter_context(trained_model("--estimator", "random_forest"))
        chosen.append(replace(variants(forest_dir)[1], name="forest"))
        rows = sample_rows(forest_dir, 1)
    return chosen, chosen[0].body(rows)


def merged_info(stored: dict[str, str], now: dict[str, str], boost_only: bool) -> dict[str, str]:
    """The stored run's machine, plus when, where and under what load this run added to it."""
    if boost_only:
        return {**stored, "boost_run": now["date"], "boost_load": now["load_before"]}
    added = f"{now['variants']}: {now['date']}, {now['cpu']} (load {now['load_before']})"
    return {**stored, "added": "; ".join(filter(None, [stored.get("added", ""), added]))}


def measured_variants(
    plain: list[Variant], tier: Tier, boost: bool, boost_only: bool
) -> list[Variant]:
    """The variants to start at this tier: plain, boosted (where simulated) or both."""
    boosted = [
        replace(v, name=v.name + BOOST_SUFFIX) for v in plain if boost_vcpu(tier) is not None
    ]
    if boost_only:
        return boosted
    return [*plain, *boosted] if boost else plain


def merge(stored: list[Outcome], measured: list[Outcome]) -> list[Outcome]:
    """The stored outcomes with this run's added (or replacing the same tier and variant)."""
    fresh = {(o.tier, o.variant) for o in measured}
    kept = [o for o in stored if (o.tier, o.variant) not in fresh]
    order = {t: i for i, t in enumerate(dict.fromkeys(o.tier for o in [*stored, *measured]))}
    return sorted([*kept, *measured], key=lambda o: order[o.tier])


def _title(info: dict[str, str]) -> str:
    title = f"{info['cpu']}, {info['nproc']} cores, Python {info['python']}, {info['date']}"
    if "boost_run" in info:
        title += f"; boosted starts {info['boost_run']} (load {info['boost_load']})"
    if "added" in info:
        title += f"\nadded since: {info['added']}"
    return title


if __name__ == "__main__":
    sys.exit(main())
