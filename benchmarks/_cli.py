"""``hatch run bench``: options, section order and output."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import time
from collections.abc import Callable

from . import _busy, _legacy, _pipes, _pool, _processes, _report
from ._cbaseline import CPipe
from ._legacy import Legacy
from ._runner import PRESETS, Case, Preset, progress

SECTIONS = ("messages", "throughput", "duplex", "start", "pool", "cpu", "busy")
# Run by default: "busy" runs when --busy asks for it.
DEFAULT_SECTIONS = SECTIONS[:-1]

_HELP = """\
Measure gipc against multiprocessing, raw os.pipe loops, a C pipe program (the
physical limit) and gipc 1.8.0 (from a venv built on first use, which needs
the package index; --no-legacy skips it), alternating competitors every
repetition. Progress goes to stderr, the table of figures to stdout.
Sections: messages (1 B rate), throughput (1 KiB..16 MiB), duplex (round
trips), start (start+join per start method), pool (tiny tasks), cpu (speed-up
curve 1..cores workers), busy (round trips and tiny tasks beside --busy N
CPU-bound processes, with their progress; run only when --busy is given).
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hatch run bench", description=_HELP)
    p.add_argument("--quick", action="store_true", help="a short run (well under a minute on 2 cores)")
    p.add_argument("--preset", choices=sorted(PRESETS), help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, help="repetitions per competitor (default: 5, --quick: 3)")
    p.add_argument("--only", metavar="NAME,...", help=f"run only these sections: {','.join(SECTIONS)}")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--plot", metavar="PATH", help="plot throughput by message size (needs matplotlib)")
    p.add_argument("--no-legacy", action="store_true", help="do not measure gipc 1.8.0")
    p.add_argument(
        "--legacy-python", metavar="PYTHON", help="interpreter with the gipc to compare against (default: "
        "a venv with gipc 1.8.0 under ~/.cache/gipc-bench, created on first use)",
    )  # fmt: skip
    p.add_argument("--no-c", action="store_true", help="do not build and run the C pipe program")
    p.add_argument(
        "--busy", type=int, metavar="N", help="run the busy section: N CPU-bound processes beside round "
        "trips and tiny pool tasks, their progress reported per competitor (alone unless --only names more "
        "sections)",
    )  # fmt: skip
    return p


def cli(argv: list[str]) -> int:
    """Run the harness with command-line arguments ``argv``; return an exit status.

    Progress goes to stderr as trials finish; the table of figures, ratios
    and goals goes to stdout at the end.

    :param argv: the command-line arguments (a leading ``--`` is skipped).
    :returns: 0 once the run is reported; failed competitors show in the
        report instead of failing the run. 1, before anything is measured,
        if gipc 1.8.0 is wanted but cannot be fetched from the package index.
    :raises SystemExit: with status 2 for bad arguments, including ``--plot``
        without matplotlib installed (checked before anything runs).
    """
    parser = _parser()
    # A leading ``--`` is accepted for scripts written against gipc's first harness.
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    if args.busy is not None and args.busy < 1:
        parser.error("--busy needs at least 1 process")
    if args.only:
        only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    else:
        only = ("busy",) if args.busy else DEFAULT_SECTIONS
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if "busy" in only and not args.busy:
        parser.error("the busy section needs --busy N (how many CPU-bound processes run beside it)")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib, which is not installed: pip install matplotlib "
                     "(or run 'hatch run bench:run', whose environment has it)")  # fmt: skip
    preset = PRESETS[args.preset or ("quick" if args.quick else "full")]
    if args.reps:
        preset = dataclasses.replace(preset, reps=max(1, args.reps))

    info = _report.machine()
    progress(f"gipc bench, preset {preset.name}, {preset.reps} repetitions, sections {','.join(only)}")
    progress(f"  {info['cpu']}, {info['cores']} cores, Python {info['python']}, gevent {info['gevent']}")
    t0 = time.monotonic()
    legacy = None
    if {"messages", "throughput", "duplex", "start"} & set(only) and not args.no_legacy:
        try:
            legacy = _legacy.start(args.legacy_python)
        except RuntimeError as exc:
            # Before anything is measured: a comparison asked for (by default)
            # is not dropped quietly from a run that takes minutes.
            progress(f"{exc}\nNothing was measured. Run again with --no-legacy to measure without gipc "
                     f"{_legacy.VERSION}, or with --legacy-python PYTHON to compare with the gipc of another "
                     "interpreter.")  # fmt: skip
            return 1
    info["legacy"] = legacy.label if legacy else None
    skipped: dict[str, str] = {}
    try:
        cases = _run_sections(only, preset, legacy, None if args.no_c else CPipe(), skipped, args.busy or 0)
    finally:
        if legacy is not None:
            legacy.close()
    info["seconds"] = round(time.monotonic() - t0, 1)
    info["preset"] = preset.name
    info["reps"] = preset.reps
    info["busy"] = args.busy or 0

    print(_report.table(cases, preset.reps))
    mem = _report.memory_table(cases)
    if mem:
        print("\n" + mem)
    found = _report.goals(cases)
    if found:
        print("\n" + _report.goals_table(found))
    if skipped:
        print("")
    for section, reason in skipped.items():
        print(f"skipped {section}: {reason}")
    print(_report.footer(info))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(_report.to_json(cases, info, skipped), f, indent=1)
        progress(f"wrote {args.json}")
    if args.plot:
        _report.plot(cases, args.plot, info)
        progress(f"wrote {args.plot}")
    return 0


def _run_sections(
    only: tuple[str, ...],
    preset: Preset,
    legacy: Legacy | None,
    cpipe: CPipe | None,
    skipped: dict[str, str],
    busy: int,
) -> list[Case]:
    plan: list[tuple[str, Callable[[], list[Case]]]] = [
        ("messages", lambda: _pipes.small_messages(preset, legacy)),
        ("throughput", lambda: _pipes.throughput(preset, legacy, cpipe)),
        ("duplex", lambda: _pipes.roundtrips(preset, legacy)),
        ("start", lambda: _processes.start_join(preset, legacy)),
        ("pool", lambda: _pool.tiny_tasks(preset)),
        ("cpu", lambda: _pool.speedup(preset) + _pool.side_by_side(preset)),
        ("busy", lambda: _busy.loaded(preset, busy)),
    ]
    cases: list[Case] = []
    for name, run in plan:
        if name not in only:
            continue
        if name in ("pool", "cpu") and not _pool.available(name):
            skipped[name] = "gipc.ProcessPool does not exist in this gipc yet"
            continue
        progress(f"[{name}]")
        cases.extend(run())
    return cases
