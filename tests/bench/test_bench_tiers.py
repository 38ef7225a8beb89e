"""The pure parts of bench/tiers.py and bench/cgroups.py (the benchmark itself needs root)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cgroups
import tiers


def test_tiers_follow_googles_memory_to_cpu_table() -> None:
    table = [(t.memory_mib, t.vcpu) for t in tiers.TIERS]

    assert table == [(128, 0.083), (256, 0.167), (512, 0.333), (1024, 0.583), (2048, 1), (4096, 2)]


@pytest.mark.parametrize(
    ("memory_mib", "label", "threads"),
    [
        (128, "128 MiB / 0.083 vCPU", 1),
        (1024, "1 GiB / 0.583 vCPU", 1),
        (4096, "4 GiB / 2 vCPU", 8),
    ],
)
def test_tier_label_and_threads(memory_mib: int, label: str, threads: int) -> None:
    tier = tiers.tier_for(memory_mib)

    assert (tier.label, tier.threads) == (label, threads)


def test_unknown_tier_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="expected one of 128, 256"):
        tiers.tier_for(300)


@pytest.mark.parametrize(
    ("seconds", "billed"), [(0.001, 0.1), (0.1, 0.1), (0.1001, 0.2), (1.25, 1.3)]
)
def test_billing_rounds_up_to_100_ms(seconds: float, billed: float) -> None:
    assert tiers.billed_seconds(seconds) == pytest.approx(billed)


def test_cost_per_million_adds_compute_and_requests() -> None:
    tier = tiers.tier_for(256)
    compute = 0.167 * tiers.USD_PER_VCPU_SECOND + 0.25 * tiers.USD_PER_GIB_SECOND

    cost = tiers.usd_per_million(tier, 0.004)

    assert cost == pytest.approx(1_000_000 * (0.1 * compute) + 0.40)


def test_summary_medians_and_spread() -> None:
    outcome = tiers.Outcome(tiers.TIERS[0], "onnx", [3.0, 1.0, 2.0, 9.0, 4.0], [], [5.0, 1.0, 3.0])

    summary = outcome.summary()

    assert summary["cold_start_s"] == 3.0
    assert (summary["cold_start_min_s"], summary["cold_start_max_s"]) == (1.0, 9.0)
    assert summary["warm_p50_ms"] == 3.0


def test_summary_of_nothing_is_none() -> None:
    summary = tiers.Outcome(tiers.TIERS[0], "sklearn", fits=False).summary()

    assert set(summary.values()) == {None}


def fake_outcomes() -> list[tiers.Outcome]:
    """Made-up figures for two tiers, one variant not fitting the smaller one."""
    small, large = tiers.TIERS[0], tiers.TIERS[4]
    return [
        tiers.Outcome(small, "onnx", [2.0, 2.5], [0.2, 0.3], [4.0, 6.0], pss_mib=70.0),
        tiers.Outcome(small, "sklearn", fits=False),
        tiers.Outcome(large, "onnx", [0.5, 0.6], [0.3, 0.4], [1.0, 2.0], pss_mib=66.0),
        tiers.Outcome(large, "sklearn", [3.0, 3.5], [], [2.0, 3.0], pss_mib=150.0),
    ]


def test_tables_show_figures_and_what_does_not_fit() -> None:
    results = tiers.results_table(fake_outcomes())
    costs = tiers.cost_table(fake_outcomes())

    assert "| 128 MiB / 0.083 vCPU | 2.25 | does not fit | 0.25 | does not fit | 5.0 |" in results
    assert "| 2 GiB / 1 vCPU | 0.55 | 3.25 | 0.35 | - | 1.5 | 2.5 | 66 | 150 |" in results
    assert "2 GiB / 1 vCPU" in costs
    assert f"{tiers.usd_per_million(tiers.TIERS[4], 0.0015):.2f}" in costs


def test_json_round_trip(tmp_path: Path) -> None:
    args = argparse.Namespace(repeats=2, requests=2)
    data = tiers.to_json(fake_outcomes(), {"cpu": "x"}, args)
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps(data))

    assert tiers.from_json(json.loads(path.read_text())) == fake_outcomes()


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "tiers.png"

    tiers.plot(fake_outcomes(), path, "test machine")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_mode_writes_nothing_into_the_repo_unless_asked() -> None:
    args = tiers.parse(["--quick"])

    assert (args.json, args.png, args.repeats) == (None, None, 1)
    assert [t.memory_mib for t in args.tier_list] == [256, 2048]


def test_every_variant_is_measured_unless_some_are_named() -> None:
    assert tiers.parse([]).variant_names == ["baseline", "onnx", "sklearn", "forest"]
    assert tiers.parse(["--variants", "forest"]).variant_names == ["forest"]


def test_an_unknown_variant_is_refused_with_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        tiers.parse(["--variants", "onnx,trees"])

    assert "unknown variants trees; expected baseline, onnx, sklearn, forest" in (
        capsys.readouterr().err
    )


def test_a_merged_run_keeps_the_stored_machine_and_says_what_it_added() -> None:
    stored = {
        "cpu": "Xeon",
        "date": "2026-11-26 10:38 UTC",
        "boost_run": "18:08",
        "boost_load": "3",
    }
    now = {"cpu": "EPYC", "date": "2026-11-30 21:00 UTC", "load_before": "1 2 3"}

    added = tiers.merged_info(stored, now | {"variants": "forest"}, boost_only=False)

    assert added == stored | {"added": "forest: 2026-11-30 21:00 UTC, EPYC (load 1 2 3)"}
    assert "\nadded since: forest: 2026-11-30 21:00 UTC" in tiers._title(
        added | {"nproc": "2", "python": "3.11.7"}
    )


MOUNTINFO = """\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw
"""


def test_finds_v1_controllers_and_own_path() -> None:
    proc_cgroup = "4:memory:/jobs/abc\n1:cpu,cpuacct:/\n0::/\n"

    assert cgroups.v1_mount("cpu", MOUNTINFO) == Path("/sys/fs/cgroup/cpu")
    assert cgroups.v1_mount("cpuset", MOUNTINFO) is None
    assert cgroups.own_path("memory", proc_cgroup) == "/jobs/abc"
    assert cgroups.own_path("cpu", proc_cgroup) == "/"


def test_survivor_whose_pss_exceeds_the_tier_is_starred() -> None:
    tight = tiers.Outcome(tiers.TIERS[0], "baseline", [20.0], [1.5], [2.0], pss_mib=150.0)

    table = tiers.results_table([tight])

    assert "| 128 MiB / 0.083 vCPU | 20.00* | 1.50* | 2.0* | 150* |" in table


@pytest.mark.parametrize(("memory_mib", "expected_s"), [(256, 0.6 / 0.167), (4096, 0.6)])
def test_quota_bound_divides_cpu_time_by_the_share_up_to_one_cpu(
    memory_mib: int, expected_s: float
) -> None:
    outcome = tiers.Outcome(tiers.tier_for(memory_mib), "onnx", [9.0], [0.5, 0.6, 0.7])

    assert tiers.quota_bound_s(outcome) == pytest.approx(expected_s)


@pytest.fixture
def limits() -> Iterator[cgroups.Limits]:
    """A real cgroup for this test, removed afterwards (needs root and cgroup v1)."""
    try:
        made = cgroups.Limits.create(f"tiers-test-{os.getpid()}-{time.monotonic_ns()}")
    except cgroups.NoCpuController as error:
        pytest.skip(f"no writable cgroup v1 cpu controller here: {error}")
    try:
        yield made
    finally:
        made.remove()
    assert not made.cpu.exists()


def run_in(limits: cgroups.Limits, code: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", code], preexec_fn=limits.join, capture_output=True, timeout=60
    )


def test_a_joined_process_is_counted_and_quota_is_written(limits: cgroups.Limits) -> None:
    limits.set(0.5, 256)
    limits.reset_cpu()

    done = run_in(limits, "sum(range(3_000_000))")

    assert done.returncode == 0
    assert (limits.cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    if limits.cpuacct is not None:
        assert limits.cpu_seconds() > 0.01


def test_a_process_over_the_memory_limit_is_oom_killed(limits: cgroups.Limits) -> None:
    if limits.memory is None:
        pytest.skip(limits.memory_note)
    limits.set(1.0, 64)
    before = limits.oom_kills()

    done = run_in(limits, "x = bytearray(256 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])")

    assert done.returncode == -signal.SIGKILL
    assert limits.oom_kills() == before + 1


def test_boost_is_simulated_up_to_one_vcpu_only() -> None:
    boosted = [t.memory_mib for t in tiers.TIERS if tiers.boost_vcpu(t) == 2.0]

    assert boosted == [128, 256, 512, 1024, 2048]
    assert tiers.boost_vcpu(tiers.tier_for(4096)) is None


def test_boosted_cold_start_bills_two_vcpu_for_its_first_ten_seconds() -> None:
    tier = tiers.tier_for(256)
    memory = 0.25 * tiers.USD_PER_GIB_SECOND

    plain = tiers.usd_cold_start(tier, 2.67, boosted=False)
    short = tiers.usd_cold_start(tier, 0.29, boosted=True)
    long = tiers.usd_cold_start(tier, 12.0, boosted=True)

    assert plain == pytest.approx(2.67 * (0.167 * tiers.USD_PER_VCPU_SECOND + memory))
    assert short == pytest.approx(0.29 * (2.0 * tiers.USD_PER_VCPU_SECOND + memory))
    assert long == pytest.approx(
        10 * 2.0 * tiers.USD_PER_VCPU_SECOND + 2 * 0.167 * tiers.USD_PER_VCPU_SECOND + 12 * memory
    )


def test_boosted_variants_are_named_and_merged_into_a_stored_run() -> None:
    plain = [tiers.Variant("onnx", Path("main.py"), {"MODEL_RUNTIME": "onnx"})]
    small, large = tiers.tier_for(256), tiers.tier_for(4096)

    both = tiers.measured_variants(plain, small, boost=True, boost_only=False)
    only = tiers.measured_variants(plain, small, boost=False, boost_only=True)
    none_at_two_vcpu = tiers.measured_variants(plain, large, boost=False, boost_only=True)
    stored = fake_outcomes()
    fresh = [tiers.Outcome(tiers.TIERS[0], "onnx+boost", [0.3], [0.2])]
    merged = tiers.merge(stored, fresh)

    assert [v.name for v in both] == ["onnx", "onnx+boost"]
    assert [v.name for v in only] == ["onnx+boost"]
    assert only[0].env == {"MODEL_RUNTIME": "onnx"}
    assert none_at_two_vcpu == []
    assert [(o.tier.memory_mib, o.variant) for o in merged] == [
        (128, "onnx"),
        (128, "sklearn"),
        (128, "onnx+boost"),
        (2048, "onnx"),
        (2048, "sklearn"),
    ]
    assert "| 128 MiB / 0.083 vCPU | onnx | 2.25 | 0.30 |" in tiers.boost_table(merged)


def test_boost_ends_a_window_after_the_port_opens(tmp_path: Path) -> None:
    written: list[tuple[float, float]] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        boost = tiers.BoostEnd(
            port, lambda: True, lambda vcpu: written.append((vcpu, time.perf_counter())), 0.083, 0.3
        )
        boost.start()
        boost.join(timeout=10)

    assert boost.port_open_at is not None
    [(vcpu, at)] = written
    assert vcpu == 0.083
    assert at - boost.port_open_at >= 0.3


def test_stopping_a_server_ends_its_boost_at_once() -> None:
    written: list[float] = []
    boost = tiers.BoostEnd(1, lambda: True, written.append, 0.167, 60.0)
    boost.start()

    boost.stop()

    assert written == [0.167]
    assert not boost.is_alive()


def test_plot_draws_boosted_variants_beside_their_base(tmp_path: Path) -> None:
    path = tmp_path / "tiers.png"
    outcomes = [*fake_outcomes(), tiers.Outcome(tiers.TIERS[0], "onnx+boost", [0.3, 0.4], [])]

    tiers.plot(outcomes, path, "test machine")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_table_leaves_a_variant_blank_where_it_was_not_measured() -> None:
    outcomes = [*fake_outcomes(), tiers.Outcome(tiers.TIERS[0], "onnx+boost", [0.3], [0.2])]

    table = tiers.results_table(outcomes)

    assert "| 2 GiB / 1 vCPU | 0.55 | 3.25 | - |" in table
