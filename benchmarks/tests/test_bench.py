"""Smoke test of the benchmark harness: every section runs and reports sane JSON.

The harness runs its tiniest preset with real children, pipes and pools. Its
figures are checked for shape and sign only: speed is what the harness
measures, never what a test asserts. The root conftest puts the repository
root on sys.path, where ``benchmarks`` is imported from.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import gipc
import pytest

from benchmarks import cli
from benchmarks._legacy import VERSION

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def bench_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the compiled C program out of the user's real cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_smoke_run_writes_complete_json(
    tmp_path: Path, bench_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    # The "legacy" competitor is this interpreter's own gipc here: that drives
    # the worker protocol without building a venv from the package index.
    status = cli(["--preset", "smoke", "--json", str(out), "--legacy-python", sys.executable])
    assert status == 0
    data = json.loads(out.read_text())
    printed = capsys.readouterr()

    assert data["schema"] == 1
    info = data["machine"]
    assert info["cores"] >= 1 and info["python"] and info["gevent"] and info["preset"] == "smoke"
    assert info["legacy"] == f"gipc {gipc.__version__}"
    reps = info["reps"]

    by_section: dict[str, list[dict[str, Any]]] = {}
    for case in data["cases"]:
        by_section.setdefault(case["section"], []).append(case)
        assert case["errors"] == {}, case
        assert case["results"], case
        for name, result in case["results"].items():
            assert len(result["values"]) == reps, (case["case"], name)
            assert all(_positive(v) for v in result["values"]), (case["case"], name)
            assert result["min"] <= result["median"] <= result["max"]
            assert all(_positive(r) for r in result["ratios"].values()), (case["case"], name)
        for ref in case["references"]:
            if ref in case["results"]:
                assert case["results"][ref]["ratios"][ref] == pytest.approx(1.0)

    messages = by_section["messages"][0]["results"]
    expected = ("gipc", "gipc raw", "mp.Pipe send/recv", "mp.Pipe send_bytes", "raw os.pipe")
    assert set(expected) <= set(messages) and "raw os.pipe+pickle" in messages
    assert f"gipc {gipc.__version__} raw" in messages

    sizes = [c["size"] for c in by_section["throughput"]]
    assert sizes == sorted(sizes) and len(sizes) >= 2
    largest = by_section["throughput"][-1]["results"]
    assert "C pipe" in largest  # a compiler is part of the development setup
    for name in ("gipc", "gipc raw", "mp.Pipe send_bytes", "raw os.pipe"):
        assert set(largest[name]["memory_kib"]) == {"mem_parent_kib", "mem_child_kib"}

    assert "gipc duplex" in by_section["duplex"][0]["results"]
    assert any("(default)" in c["case"] for c in by_section["start+join"])
    for case in by_section["start+join"]:
        assert {"gipc", "mp.Process"} <= set(case["results"])
    # The legacy gipc starts children with the default method only, and is
    # compared with multiprocessing measured in a worker like its own.
    legacy_start = [c for c in by_section["start+join"] if info["legacy"] in c["results"]]
    assert [c["case"] for c in legacy_start] == [
        c["case"] for c in by_section["start+join"] if "(default)" in c["case"]
    ]
    beside = f"mp.Process beside {info['legacy']}"
    assert beside in legacy_start[0]["references"] and beside in legacy_start[0]["results"]

    if getattr(gipc, "ProcessPool", None) is None:
        assert set(data["skipped"]) == {"pool", "cpu"}
        assert "no gipc.ProcessPool" in printed.err
    else:
        assert {"gipc.ProcessPool", "ProcessPoolExecutor"} <= set(by_section["pool"][0]["results"])
        curve = [c for c in by_section["cpu-bound"] if c["unit"] == "x"]
        assert len(curve) == info["cores"]
        # Both pools at once, for every worker count, and the goal judged on them.
        side = [c for c in by_section["cpu-bound"] if c["case"].startswith("side by side, ")]
        assert len(side) == info["cores"]
        for case in side:
            assert {"gipc.ProcessPool", "ProcessPoolExecutor"} <= set(case["results"]), case
        judged = {g["case"] for g in data["goals"] if g["name"] == "CPU-bound pool work"}
        assert judged == {f"cpu-bound: {c['case']}" for c in side}

    assert data["goals"], "the 1 B, duplex, start+join and memory goals apply to a smoke run"
    for goal in data["goals"]:
        assert _positive(goal["ratio"]) and isinstance(goal["met"], bool), goal
    assert {"1 B child->parent", "1 B round trip"} <= {g["case"].split(": ", 1)[1] for g in data["goals"]}

    # Goals are named by what they are.
    assert {"small-message rate", "round-trip rate", "child start-up"} <= {g["name"] for g in data["goals"]}

    assert "medians and min-max" in printed.out and "goals" in printed.out
    assert "issue" not in printed.out.lower()
    assert "[messages]" in printed.err  # progress goes to stderr
    _assert_columns_align(printed.out)


def _assert_columns_align(report: str) -> None:
    """Every table of the report has its cells under its column headings.

    Figures and ratios end where their heading ends; text columns start where
    their heading starts. Long names (``mp.Process beside gipc 2...``) must
    widen a column, not push a row's cells out of it.
    """
    blocks = [b.splitlines() for b in report.split("\n\n")]
    checked = 0
    for block in blocks:
        heads = [
            i for i, line in enumerate(block) if line.startswith("  competitor") or line.startswith("  goal ")
        ]
        if not heads:
            continue
        head = block[heads[0]]
        rows = [line for line in block[heads[0] + 1 :] if line.startswith("  ") and "FAILED" not in line]
        assert rows, block
        ratios = [label.strip() for label in head.split("  ") if label.strip().startswith("vs ")]
        right = ["median", "parent", "child", "ratio", *ratios]
        left = ("min - max", "case", "competitor", "against", "target", "verdict")
        for label in right:
            if f" {label}" not in head + " ":
                continue
            end = head.index(f" {label}") + 1 + len(label)
            for row in rows:
                assert row[end - 1] != " " and row[end : end + 1] in ("", " "), (label, head, row)
        for label in left:
            if f"  {label}" not in head:
                continue
            start = head.index(f"  {label}") + 2
            for row in rows:
                assert row[start - 2 : start] == "  " and row[start] != " ", (label, head, row)
        checked += 1
    assert checked >= 5, report


def test_only_selects_sections(tmp_path: Path, bench_cache: Path) -> None:
    out = tmp_path / "bench.json"
    argv = ["--preset", "smoke", "--reps", "1", "--only", "duplex", "--no-legacy", "--json", str(out)]
    assert cli(argv) == 0
    data = json.loads(out.read_text())
    assert [c["section"] for c in data["cases"]] == ["duplex"]
    assert set(data["cases"][0]["results"]) == {"gipc duplex", "gipc duplex, no spin", "mp.Pipe duplex"}
    assert data["machine"]["legacy"] is None


def test_busy_runs_round_trips_and_pools_beside_busy_processes(
    tmp_path: Path, bench_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    assert cli(["--preset", "smoke", "--busy", "1", "--no-legacy", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    printed = capsys.readouterr()
    # --busy alone runs the busy section only.
    assert {c["section"] for c in data["cases"]} == {"busy"}
    assert data["machine"]["busy"] == 1 and "1 busy processes" in printed.out
    cases = {c["case"]: c for c in data["cases"]}
    pairs = [("1 B round trip, 1 busy", {"gipc duplex", "gipc duplex, no spin", "mp.Pipe duplex"})]
    if getattr(gipc, "ProcessPool", None) is not None:
        workers = os.cpu_count() or 1
        pairs.append((f"tiny tasks, {workers} workers, 1 busy", {"gipc.ProcessPool", "ProcessPoolExecutor"}))
    for name, competitors in pairs:
        for case in (cases[name], cases[f"busy loops beside: {name}"]):
            assert set(case["results"]) == competitors, case
            for result in case["results"].values():
                # The busy process counted during every recorded trial.
                assert len(result["values"]) == data["machine"]["reps"]
                assert all(_positive(v) for v in result["values"])
    assert {g["case"] for g in data["goals"]} == {f"busy: {c['case']}" for c in data["cases"]}
    _assert_columns_align(printed.out)


@pytest.mark.parametrize("argv", [["--busy", "0"], ["--only", "busy"]])
def test_busy_needs_a_count(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(argv)
    assert exc.value.code == 2
    assert "busy" in capsys.readouterr().err


def test_unknown_section_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(["--only", "messages,nonsense"])
    assert exc.value.code == 2
    assert "nonsense" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fonts_loaded() -> None:
    """Let matplotlib, if installed, open its font files before the leak check counts descriptors.

    It keeps the files of the fonts it has drawn with open for good, so a
    first plot inside a test would look like a leak of two descriptors.
    """
    if importlib.util.find_spec("matplotlib") is None:
        return
    import io

    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, ax = plt.subplots()
    ax.plot([1, 2], label="a -> b")
    ax.set_title("fonts")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def test_plot_needs_matplotlib_or_draws(
    tmp_path: Path, bench_cache: Path, capsys: pytest.CaptureFixture[str], fonts_loaded: None
) -> None:
    image = tmp_path / "throughput.png"
    argv = ["--preset", "smoke", "--reps", "1", "--only", "throughput", "--no-legacy", "--plot", str(image)]
    if importlib.util.find_spec("matplotlib") is None:
        # Refused before anything runs, with the way out in the message.
        with pytest.raises(SystemExit) as exc:
            cli(argv)
        assert exc.value.code == 2
        assert "pip install matplotlib" in capsys.readouterr().err
        assert not image.exists()
    else:
        assert cli(argv) == 0
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_passes_dash_options_to_the_harness(tmp_path: Path) -> None:
    import subprocess

    # As ``hatch run bench --help`` runs it, from any directory, and as a module from the root.
    for cmd, cwd in (([sys.executable, str(ROOT / "benchmarks"), "--help"], tmp_path),
                     ([sys.executable, "-m", "benchmarks", "--help"], ROOT)):  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        assert "--quick" in proc.stdout and "--no-legacy" in proc.stdout


def test_offline_stops_at_once_and_suggests_no_legacy(
    bench_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An index nobody listens on, and no configured one: as pip sees a machine offline.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.setenv(name, "")
    assert cli(["--preset", "smoke", "--reps", "1", "--only", "duplex"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""  # no report: nothing was measured
    assert "[duplex]" not in printed.err
    if importlib.util.find_spec("ensurepip") is None:
        # Debian's Python without its venv package (as scripts/get_python.sh
        # provides 3.14 and 3.15): `python -m venv` fails before pip could
        # reach any index, and the run stops at once all the same.
        assert f"gipc {VERSION} could not be installed" in printed.err
        assert "-m venv" in printed.err
    else:
        assert f"gipc {VERSION} cannot be fetched from the package index" in printed.err
    assert "--no-legacy" in printed.err


def test_a_legacy_python_that_cannot_serve_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-python"
    assert cli(["--preset", "smoke", "--only", "start", "--legacy-python", str(missing)]) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and "[start]" not in printed.err
    assert str(missing) in printed.err and "--no-legacy" in printed.err


@pytest.mark.parametrize(
    ("ratio", "goal", "at_most", "shown", "verdict"),
    [
        (0.9996, 1.0, False, "0.9996", "NOT met"),  # .3g would print 1 beside NOT met
        (1.0004, 1.0, False, "1", "met"),
        (0.95, 1.0, False, "0.95", "NOT met"),
        (1.1004, 1.1, True, "1.1004", "NOT met"),  # an at-most goal, just over
        (1.0123, 1.1, True, "1.01", "met"),
    ],
)
def test_goal_ratio_is_printed_with_the_digits_its_verdict_needs(
    ratio: float, goal: float, at_most: bool, shown: str, verdict: str
) -> None:
    from benchmarks._report import goals_table

    found = {"name": "g", "case": "c", "competitor": "gipc", "reference": "r",
             "ratio": ratio, "goal": goal, "at_most": at_most,
             "met": ratio <= goal if at_most else ratio >= goal}  # fmt: skip
    row = goals_table([found]).splitlines()[-1].split()
    assert row[-1 - (verdict == "NOT met")] == verdict.split()[0]
    assert row[4] == shown
    # What is printed gives the printed verdict.
    assert (float(shown) <= goal if at_most else float(shown) >= goal) == (verdict == "met")


def test_a_side_by_side_case_is_judged_window_by_window() -> None:
    from benchmarks._report import goals, ratio
    from benchmarks._runner import Case

    # Two windows, the second on a host twice as fast: gipc was 2 % behind in
    # one and level in the other. The medians' ratio (1.49 / 1.5) would mix
    # the two windows' host speeds; the windows' own ratios do not.
    values = {"gipc.ProcessPool": [0.98, 2.0], "ProcessPoolExecutor": [1.0, 2.0]}
    side = Case(
        "cpu-bound", "side by side, 1 worker each", "task/s", refs=("ProcessPoolExecutor",), paired=True
    )
    side.values = {k: list(v) for k, v in values.items()}
    assert ratio(side, "gipc.ProcessPool", "ProcessPoolExecutor") == pytest.approx(0.99)
    apart = Case("cpu-bound", "1 worker", "task/s", refs=("ProcessPoolExecutor",))
    apart.values = {k: list(v) for k, v in values.items()}
    assert ratio(apart, "gipc.ProcessPool", "ProcessPoolExecutor") == pytest.approx(1.49 / 1.5)
    # The goal is judged on the side-by-side cases only, on the windows' ratio.
    found = [g for g in goals([side, apart]) if g["name"] == "CPU-bound pool work"]
    assert [(g["case"], round(g["ratio"], 3), g["met"]) for g in found] == [
        ("cpu-bound: side by side, 1 worker each", 0.99, False)
    ]


def _raises(dog: Any) -> dict[str, Any]:
    raise ValueError("boom")


def _overruns(dog: Any) -> dict[str, Any]:
    import time

    time.sleep(0.3)  # resumed after the watchdog's signal, which only kills children
    return {"count": 1, "seconds": 0.3}


def _fine(dog: Any) -> dict[str, Any]:
    return {"count": 10, "seconds": 0.5}


def test_a_failing_or_overrunning_competitor_is_dropped_with_its_error_recorded() -> None:
    # What the sections share: one bounded trial, its failure said in the report.
    import dataclasses

    from benchmarks._runner import PRESETS, Case, TrialFailed, alternate, run_bounded

    with pytest.raises(TrialFailed, match=r"^ValueError: boom$"):
        run_bounded(_raises, 5.0)
    late = r"^overran 0\.1 s, killed \(TimeoutError: its result came too late\)$"
    with pytest.raises(TrialFailed, match=late):
        run_bounded(_overruns, 0.1)
    assert run_bounded(_fine, 5.0) == {"count": 10, "seconds": 0.5}

    preset = dataclasses.replace(PRESETS["smoke"], reps=2, trial_limit=0.1, warmup=False)
    case = alternate(Case("s", "c", "x/s"), {"fine": _fine, "raises": _raises, "overruns": _overruns}, preset)
    assert case.values == {"fine": [20.0, 20.0]}
    assert case.errors == {
        "raises": "ValueError: boom",
        "overruns": "overran 0.1 s, killed (TimeoutError: its result came too late)",
    }
