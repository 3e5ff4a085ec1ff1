"""Sphinx configuration: one documentation site for all three distributions.

Besides settings, this file generates two kinds of pages into ``_generated/``
(git-ignored) before Sphinx reads the sources, so they never go stale:

- the changelog draft: the not-yet-released fragments in ``changelog.d/``,
  rendered by ``towncrier build --draft``;
- the tables of names :mod:`gipc` and :mod:`gipc.gipc` re-export from the
  layers below, computed from their ``__all__``, so the API reference lists
  each object once, where it is defined.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"

import gipc  # noqa: E402 - the packages are installed (editable) in the docs env

project = "gipc"
author = "Dr. Jan-Philip Gehrcke and the gipc contributors"
copyright = "2012-2026, " + author
release = gipc.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "_generated", ".gitignore"]
# Bare ``::`` blocks are Python; tests-integration/test_docs_samples.py runs them.
highlight_language = "python3"

html_theme = "furo"
html_title = f"gipc {release}"
html_static_path: list[str] = []

# Cross-references to gevent and multiprocessing objects stay plain text: there
# is no network access for intersphinx at build time, and an unresolved
# reference must not fail the -W build. Our own references resolve.
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {
    "members": True,
    # A public name without a docstring is still listed, rather than vanishing.
    "undoc-members": True,
    "show-inheritance": True,
}
# Public objects set __module__ to their public path; show that path.
add_module_names = True


def _write_if_changed(path: Path, text: str) -> None:
    # An unchanged mtime keeps Sphinx from re-reading the page on every build.
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _changelog_draft() -> str:
    """The unreleased fragments, rendered by towncrier, without its version title."""
    proc = subprocess.run(
        [sys.executable, "-m", "towncrier", "build", "--draft", "--version", release],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"towncrier build --draft failed:\n{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.splitlines()
    # The draft starts with "<version> (<date>)" and its underline: the page
    # gives its own title to the unreleased section.
    if len(lines) >= 2 and lines[0].startswith(release) and set(lines[1]) == {"="}:
        lines = lines[2:]
    # Then one section per layer ("-" underline); drop the empty ones.
    sections: list[list[str]] = []
    for i, line in enumerate(lines):
        is_title = i + 1 < len(lines) and line.strip() and set(lines[i + 1]) == {"-"}
        if is_title or not sections:
            sections.append([])
        sections[-1].append(line)
    kept = ["\n".join(sec).strip() for sec in sections]
    kept = [sec for sec in kept if sec and not sec.endswith("No significant changes.")]
    if not kept:
        return "No unreleased changes yet.\n"
    return "\n\n\n".join(kept) + "\n"


# The modules the API reference documents. Each object is documented under the
# one whose name is its ``__module__``; the others list it as a re-export.
# lowlevel is the exception: it documents its whole ``__all__``, imported or not.
PUBLIC_MODULES = ("gipc_transport", "gipc_transport.lowlevel", "gipc_process", "gipc", "gipc.gipc")
BY_MODULE_ATTR = ("gipc_transport", "gipc_process", "gipc", "gipc.gipc")


def _origin(obj: object) -> str | None:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return obj.__module__
    return None


def _reexport_table(module_name: str) -> str:
    """A table of the names ``module_name`` takes from other modules, with what they are."""
    module = importlib.import_module(module_name)
    rows = []
    for name in module.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        origin = _origin(obj)
        if origin == module_name:
            continue
        if origin is None:
            what = f"a ``{type(obj).__name__}``"
        else:
            role = "class" if inspect.isclass(obj) else "func"
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                role = "exc"
            what = f":{role}:`{origin}.{obj.__qualname__}`"
        rows.append(f"   * - ``{module_name}.{name}``\n     - {what}")
    if not rows:
        return f"``{module_name}`` re-exports nothing.\n"
    head = ".. list-table::\n   :header-rows: 1\n   :widths: 40 60\n\n   * - Name\n     - Is\n"
    return head + "\n".join(rows) + "\n"


def _reexports() -> dict[str, str]:
    """``{"gipc.pipe": "gipc_transport.pipe", ...}`` for every re-exported class and function."""
    found = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            origin = _origin(obj)
            if origin is not None and origin != module_name:
                found[f"{module_name}.{name}"] = f"{origin}.{obj.__qualname__}"  # type: ignore[union-attr]
    return found


def _resolve_reexport(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Make ``:func:`gipc.pipe``` link to where ``pipe`` is documented."""
    if node.get("refdomain") != "py":
        return None
    origin = REEXPORTS.get(node["reftarget"])
    if origin is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], origin, node, contnode)


def _misplaced_names() -> list[str]:
    """Public names whose ``__module__`` is a private module: they would be missing.

    The reference documents each module's own objects (``:ignore-module-all:``),
    which relies on every public object carrying its public ``__module__``.
    """
    problems = []
    for module_name in BY_MODULE_ATTR:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            origin = _origin(getattr(module, name, None))
            if origin is not None and origin not in PUBLIC_MODULES:
                problems.append(
                    f"{module_name}.{name} has __module__ {origin!r}: set it to the public module "
                    "that exports it, or it is missing from the API reference"
                )
    return problems


def _report_misplaced(app: object) -> None:
    from sphinx.util import logging

    log = logging.getLogger("gipc-docs")
    for problem in _misplaced_names():
        log.warning(problem)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _report_misplaced)
    app.connect("missing-reference", _resolve_reexport)
    return {"parallel_read_safe": True}


REEXPORTS = _reexports()
_write_if_changed(GENERATED / "changelog-draft.rst", _changelog_draft())
_write_if_changed(GENERATED / "reexports-gipc.rst", _reexport_table("gipc"))
_write_if_changed(GENERATED / "reexports-gipc-gipc.rst", _reexport_table("gipc.gipc"))
