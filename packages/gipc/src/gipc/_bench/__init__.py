"""The benchmark harness behind ``python -m gipc bench``."""

from __future__ import annotations


def cli(argv: list[str]) -> int:
    """Run the harness with command-line arguments ``argv``; return an exit status."""
    raise NotImplementedError("the benchmark harness is being written (issue 7)")
