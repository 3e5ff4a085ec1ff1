"""Sphinx configuration: one documentation site for all three distributions.

Besides settings, this file generates two kinds of pages into ``_generated/``
(git-ignored) before Sphinx reads the sources, so they never go stale:

- the changelog draft: the not-yet-released fragments in ``changelog.d/``,
  rendered by ``towncrier build --draft``;
- the API reference's automodule directives and the tables of names each
  module re-exports from another, computed from their ``__all__``, so the
  reference lists each object once, where it is defined.
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


# The modules the API reference documents, each with automodule :members:,
# which follows the module's __all__. A name that a module takes from another
# of these is excluded there and listed in a table instead, so that every
# object is documented once, under the module that defines it.
PUBLIC_MODULES = ("gipc_transport", "gipc_transport.lowlevel", "gipc_process", "gipc", "gipc.gipc")
# Modules of aliases kept for old code: their data (a list, ...) is listed, not documented.
LEGACY_MODULES = ("gipc.gipc",)


def _origin(obj: object) -> str | None:
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return obj.__module__
    return None


def _borrowed(module_name: str) -> list[tuple[str, object, str | None]]:
    """The names in ``module_name.__all__`` documented elsewhere: (name, object, origin)."""
    module = importlib.import_module(module_name)
    found: list[tuple[str, object, str | None]] = []
    for name in getattr(module, "__all__", ()):
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        origin = _origin(obj)
        if origin is None and module_name in LEGACY_MODULES:
            found.append((name, obj, None))
        elif origin is not None and origin != module_name and origin in PUBLIC_MODULES:
            found.append((name, obj, origin))
    return found


def _attr_doc(module_name: str, name: str) -> list[str] | None:
    """The ``#:`` comment documenting ``name`` in the source of ``module_name``, if any."""
    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer

    try:
        docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    except PycodeError:
        return None
    doc = docs.get(("", name))
    return list(doc) if doc is not None else None


def _imported_data(module_name: str) -> list[tuple[str, object, list[str]]]:
    """Data in ``__all__`` defined in a private submodule: (name, value, doc lines).

    autodoc finds the ``#:`` comment of a constant only in the module that
    assigns it, so for one that ``__init__`` imports it would list the bare
    value: take the comment from the submodule that defines it.
    """
    module = importlib.import_module(module_name)
    if module_name in LEGACY_MODULES:
        return []
    found: list[tuple[str, object, list[str]]] = []
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if name.startswith("__") or inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj):
            continue
        if _attr_doc(module_name, name) is not None:
            continue  # documented where it is, automodule shows it
        for sub_name, sub in sorted(sys.modules.items()):
            if sub_name.startswith(module_name + "._") and getattr(sub, name, None) is obj:
                doc = _attr_doc(sub_name, name)
                if doc is not None:
                    found.append((name, obj, doc))
                    break
    return found


def _automodule(module_name: str) -> str:
    """The automodule directive for ``module_name``, without what it borrows."""
    lines = [f".. automodule:: {module_name}", "   :members:", "   :show-inheritance:"]
    if module_name in LEGACY_MODULES:
        lines.append("   :private-members:")
    data = _imported_data(module_name)
    excluded = [name for name, _, _ in _borrowed(module_name)] + [name for name, _, _ in data]
    if excluded:
        lines.append("   :exclude-members: " + ", ".join(excluded))
    for name, value, doc in data:
        lines += ["", f".. py:data:: {name}", f"   :module: {module_name}", f"   :value: {value!r}", ""]
        lines += [f"   {line}" if line else "" for line in doc]
    return "\n".join(lines) + "\n"


def _reexport_table(module_name: str) -> str:
    """A table of the names ``module_name`` takes from other modules, with what they are."""
    rows = []
    for name, obj, origin in _borrowed(module_name):
        if origin is None:
            what = f"a ``{type(obj).__name__}``"
        else:
            role = "class" if inspect.isclass(obj) else "func"
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                role = "exc"
            what = f":{role}:`{origin}.{obj.__qualname__}`"  # type: ignore[attr-defined]
        rows.append(f"   * - ``{module_name}.{name}``\n     - {what}")
    if not rows:
        return f"``{module_name}`` re-exports nothing.\n"
    head = ".. list-table::\n   :header-rows: 1\n   :widths: 40 60\n\n   * - Name\n     - Is\n"
    return head + "\n".join(rows) + "\n"


def _reexports() -> dict[str, str]:
    """``{"gipc.pipe": "gipc_transport.pipe", ...}`` for every re-exported class and function."""
    found = {}
    for module_name in PUBLIC_MODULES:
        for name, obj, origin in _borrowed(module_name):
            if origin is not None:
                found[f"{module_name}.{name}"] = f"{origin}.{obj.__qualname__}"  # type: ignore[attr-defined]
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


def setup(app: Any) -> dict[str, Any]:
    app.connect("missing-reference", _resolve_reexport)
    return {"parallel_read_safe": True}


REEXPORTS = _reexports()
_write_if_changed(GENERATED / "changelog-draft.rst", _changelog_draft())
for _name in PUBLIC_MODULES:
    _write_if_changed(GENERATED / f"api-{_name}.rst", _automodule(_name))
    _write_if_changed(GENERATED / f"reexports-{_name}.rst", _reexport_table(_name))
