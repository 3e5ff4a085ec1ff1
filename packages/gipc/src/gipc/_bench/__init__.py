"""The benchmark harness behind ``python -m gipc bench``."""

from ._cli import cli as cli

__all__ = ("cli",)
