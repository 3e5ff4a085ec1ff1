"""What a run found: the machine, the figures table, the goals, JSON and the plot."""

from __future__ import annotations

import datetime
import fnmatch
import importlib
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import gevent
import gipc

from ._runner import MIB, Case, human

# The speed goals set for gipc 2: (goal, section, case, competitor, reference,
# minimum ratio of medians). "3x gipc 1.8.0" for 16 MiB messages is about
# messages as 1.8.0 sends them by default (pickled); without a codec 1.8.0
# already runs at nearly the C program's rate, which is the bound for both
# (the table still shows it).
GOALS = (
    ("small-message rate", "messages", "1 B child->parent", "gipc", "mp.Pipe send_bytes", 1.2),
    ("small-message rate", "messages", "1 B child->parent", "gipc raw", "mp.Pipe send_bytes", 1.2),
    ("large-message throughput", "throughput", "16 MiB", "gipc", "gipc 1.8.0", 3.0),
    ("near the physical limit", "throughput", "16 MiB", "gipc", "C pipe", 1 / 1.5),
    ("near the physical limit", "throughput", "16 MiB", "gipc raw", "C pipe", 1 / 1.5),
    ("round-trip rate", "duplex", "1 B round trip", "gipc duplex", "mp.Pipe duplex", 1.0),
    ("child start-up", "start+join", "*", "gipc", "mp.Process", 1.0),
    ("pool task rate", "pool", "*", "gipc.ProcessPool", "ProcessPoolExecutor", 2.0),
    # CPU-bound work, both pools at once (separate trials measure the host's
    # speed, which changes within seconds, as much as the pools').
    ("CPU-bound pool work", "cpu-bound", "side by side, *", "gipc.ProcessPool", "ProcessPoolExecutor", 1.0),
    # Beside --busy N CPU-bound processes: gipc at least at the competitors'
    # rate, and the busy processes counting at least as fast beside gipc as
    # beside them (the "busy loops beside" cases).
    ("under load", "busy", "*", "gipc duplex", "mp.Pipe duplex", 1.0),
    ("under load", "busy", "*", "gipc.ProcessPool", "ProcessPoolExecutor", 1.0),
)
MEMORY_GOAL = "memory per message"
"""A large message costs at most about one payload of extra memory per side (ratio <= 1.1)."""


def machine() -> dict[str, Any]:
    """Where and with what the figures were taken."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    # The commit of the gipc measured (an editable install: the checkout's).
    here = Path(gipc.__file__).resolve().parent
    commit = _git(here, "rev-parse", "--short", "HEAD")
    if commit and _git(here, "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "gevent": gevent.__version__,
        "gipc": gipc.__version__,
        "loop": type(gevent.get_hub().loop).__module__,
        "default_start_method": multiprocessing.get_start_method(),
        "commit": commit,
        # Other work on the machine skews every figure: say how busy it was.
        "load": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _git(cwd: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def ratio(case: Case, competitor: str, ref: str) -> float | None:
    """``competitor``'s median over ``ref``'s in the same case (higher is better).

    For a paired case (both measured at once, repetition by repetition) the
    median of the repetitions' own ratios: each compares two figures taken
    in the same moments.
    """
    if case.paired and competitor != ref:
        a_values, b_values = case.values.get(competitor), case.values.get(ref)
        if not a_values or not b_values or len(a_values) != len(b_values):
            return None
        per_rep = [a / b for a, b in zip(a_values, b_values, strict=True) if b]
        return statistics.median(per_rep) if per_rep else None
    a, b = case.median(competitor), case.median(ref)
    return a / b if a is not None and b else None


def goals(cases: list[Case]) -> list[dict[str, Any]]:
    """Each applicable goal with the measured ratio and whether it is met."""
    found = []
    for goal, section, name, competitor, ref, minimum in GOALS:
        for case in cases:
            if case.section != section or not fnmatch.fnmatchcase(case.name, name):
                continue
            r = ratio(case, competitor, ref)
            if r is None:
                continue
            found.append(
                {"name": goal, "case": f"{section}: {case.name}", "competitor": competitor, "reference": ref,
                 "ratio": r, "goal": minimum, "at_most": False, "met": r >= minimum}
            )  # fmt: skip
    return found + _memory_goals(cases)


def _memory_goals(cases: list[Case]) -> list[dict[str, Any]]:
    """The memory goal, checked for the largest message size of the run."""
    sized = [c for c in cases if c.section == "throughput" and c.size and c.memory]
    if not sized:
        return []
    case = max(sized, key=lambda c: c.size or 0)
    size_kib = (case.size or 1) / 1024
    found = []
    for competitor in ("gipc", "gipc raw"):
        for side, label in (("mem_parent_kib", "parent"), ("mem_child_kib", "child")):
            values = case.memory.get(competitor, {}).get(side)
            if values:
                r = statistics.median(values) / size_kib
                found.append(
                    {"name": MEMORY_GOAL, "case": f"memory: {case.name}, {label}", "competitor": competitor,
                     "reference": "payload size", "ratio": r, "goal": 1.1, "at_most": True, "met": r <= 1.1}
                )  # fmt: skip
    return found


def to_json(cases: list[Case], info: dict[str, Any], skipped: dict[str, str]) -> dict[str, Any]:
    """The machine-readable form of a run."""
    out = []
    for case in cases:
        results = {}
        for name, values in case.values.items():
            mem = {side: statistics.median(v) for side, v in case.memory.get(name, {}).items()}
            results[name] = {
                "median": case.median(name), "min": min(values), "max": max(values),
                "values": values, "memory_kib": mem,
                "ratios": {ref: ratio(case, name, ref) for ref in case.refs if ref in case.values},
            }  # fmt: skip
        out.append(
            {"section": case.section, "case": case.name, "unit": case.unit, "size": case.size,
             "work": case.work, "references": list(case.refs), "results": results, "errors": case.errors}
        )  # fmt: skip
    return {"schema": 1, "machine": info, "skipped": skipped, "cases": out, "goals": goals(cases)}


def _columns(rows: list[list[str]], right: frozenset[int] = frozenset(), indent: str = "  ") -> list[str]:
    """Lay ``rows`` (the first is the header) out in columns as wide as their widest cell.

    Columns whose index is in ``right`` are right-aligned (figures); the
    others are left-aligned. Cells are two spaces apart.
    """
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    lines = []
    for row in rows:
        # A failed competitor's row is shorter than the others.
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def table(cases: list[Case], reps: int) -> str:
    """The figures and ratios as text: one block per case, its columns aligned."""
    lines = [f"medians and min-max over {reps} repetitions; 'vs X' = median / X's median (>1: faster)"]
    for case in cases:
        refs = [r for r in case.refs if r in case.values]
        lines.append("")
        lines.append(f"{case.section}: {case.name} ({case.unit}{'; ' + case.work if case.work else ''})")
        rows = [["competitor", "median", "min - max", *(f"vs {r}" for r in refs)]]
        for name, values in case.values.items():
            med = case.median(name) or 0.0
            span = f"{human(min(values), case.unit, bare=True)} - {human(max(values), case.unit, bare=True)}"
            ratios = [ratio(case, name, r) for r in refs]
            rows.append(
                [name, human(med, case.unit), span, *(f"{q:.2f}" if q is not None else "-" for q in ratios)]
            )
        # A failed competitor's error runs on past the columns instead of widening them.
        rows += [[name, "FAILED"] for name in case.errors]
        laid = _columns(rows, frozenset({1, *range(3, 3 + len(refs))}))
        done = len(laid) - len(case.errors)
        lines += laid[:done] + [
            f"{line}  {err}" for line, err in zip(laid[done:], case.errors.values(), strict=True)
        ]
    return "\n".join(line.rstrip() for line in lines)


def memory_table(cases: list[Case]) -> str:
    """Peak extra resident memory per side for the largest message size."""
    sized = [c for c in cases if c.section == "throughput" and c.size and c.memory]
    if not sized:
        return ""
    case = max(sized, key=lambda c: c.size or 0)
    rows = [["competitor", "parent", "child"]]
    for name, sides in case.memory.items():
        parent = statistics.median(sides.get("mem_parent_kib", [0]))
        child = statistics.median(sides.get("mem_child_kib", [0]))
        rows.append([name, f"{parent / 1024:.1f} MiB", f"{child / 1024:.1f} MiB"])
    title = f"peak extra memory per side, {case.name} messages (median; parent receives, child sends)"
    return "\n".join([title, *_columns(rows, frozenset({1, 2}))])


def shown_ratio(ratio: float, goal: float, at_most: bool) -> str:
    """The ratio with 3 significant digits, or as many more as it takes for the
    printed figure to give the verdict the exact one gives (0.9996 against a goal
    of 1 prints as 0.9996, not as 1 beside "NOT met")."""
    met = ratio <= goal if at_most else ratio >= goal
    for digits in range(3, 10):
        text = f"{ratio:.{digits}g}"
        shown = float(text)
        if (shown <= goal if at_most else shown >= goal) == met:
            return text
    return repr(ratio)


def goals_table(found: list[dict[str, Any]]) -> str:
    """Each goal checked in this run: what it is, where, the measured ratio and the verdict."""
    rows = [["goal", "case", "competitor", "against", "ratio", "target", "verdict"]]
    for g in found:
        shown = shown_ratio(g["ratio"], g["goal"], g["at_most"])
        rows.append(
            [g["name"], g["case"], g["competitor"], g["reference"], shown,
             f"{'<=' if g['at_most'] else '>='} {g['goal']:.3g}", "met" if g["met"] else "NOT met"]
        )  # fmt: skip
    title = (
        "goals for gipc 2: ratio of medians in this run (side by side: median of the windows' ratios; "
        "memory: peak extra memory over payload size)"
    )
    return "\n".join([title, *_columns(rows, frozenset({4}))])


def footer(info: dict[str, Any]) -> str:
    """One line saying when, where and on what the run was made."""
    return (
        f"\n{info['date']}; {info['cpu']}, {info['cores']} cores; Python {info['python']}, "
        f"gevent {info['gevent']}, gipc {info['gipc']} ({info['commit'] or 'not a git checkout'}); "
        f"{info['seconds']} s"
        + (f"; load average {info['load'][0]:g} at the start" if info.get("load") else "")
        + (f"; {info['busy']} busy processes beside the busy section" if info.get("busy") else "")
    )


def plot(cases: list[Case], path: str, info: dict[str, Any]) -> None:
    """Message size against throughput for every competitor, as an image at ``path``."""
    # Imported by name: matplotlib is an optional extra without type stubs here.
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    sized = sorted((c for c in cases if c.section == "throughput" and c.size), key=lambda c: c.size or 0)
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    names = list(dict.fromkeys(n for c in sized for n in c.values))
    for name in names:
        pts = [(c.size, c.values[name]) for c in sized if name in c.values]
        xs = [p[0] for p in pts]
        med = [statistics.median(v) / MIB for _, v in pts]
        lo = [m - min(v) / MIB for m, (_, v) in zip(med, pts, strict=True)]
        hi = [max(v) / MIB - m for m, (_, v) in zip(med, pts, strict=True)]
        style = "--" if name == "C pipe" else (":" if name.startswith("gipc 1.") else "-")
        ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3, linestyle=style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks([c.size for c in sized], [c.name for c in sized])
    ticker: Any = importlib.import_module("matplotlib.ticker")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:,.0f}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("throughput child -> parent (MiB/s)")
    ax.set_title(
        f"median (bars: min-max) over {info['reps']} runs; gipc {info['gipc']}, Python {info['python']}, "
        f"{info['cores']} cores, {info['date'][:10]}",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
