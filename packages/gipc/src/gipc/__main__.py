"""``python -m gipc``: check a setup (``doctor``)."""

from __future__ import annotations

import argparse
import multiprocessing
import sys

from ._doctor import DEFAULT_TIMEOUT
from ._doctor import run as run_doctor
from ._version import __version__

# The module docstring is reST for Sphinx; --help shows plain text.
_DESCRIPTION = "Check a gipc setup (doctor)."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m gipc", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"gipc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = sub.add_parser("doctor", help="print the environment and smoke-test each start method")
    doctor.add_argument(
        "--start-method",
        action="append",
        dest="methods",
        choices=multiprocessing.get_all_start_methods(),
        metavar="METHOD",
        help="smoke-test only this start method: %(choices)s (repeatable; default: every one)",
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long a child may take to answer and exit (default: {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return run_doctor(args.methods, args.timeout)
    # No command: say what there is, as a bare ``git`` does.
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
