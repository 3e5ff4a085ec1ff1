"""Every Python code sample in the documentation runs, and succeeds.

Which blocks are samples, in ``docs/**/*.rst`` (generated and built files
excluded):

- ``.. code-block:: python`` (also ``python3``, ``py``, ``.. code::`` and
  ``.. sourcecode::`` with those languages, or with no language);
- bare ``::`` literal blocks, which Sphinx highlights as Python
  (``highlight_language`` in ``docs/conf.py``), unless a ``.. highlight::``
  directive earlier in the file set another language.

The docstrings that the API reference and the architecture page include (the
public modules' objects, and the modules named by ``.. automodule::`` in the
pages) are searched the same way: a sample in a docstring runs too.

Shell commands, output and other text go in ``.. code-block:: console`` /
``text`` / ``toml`` blocks, which are not run. A Python fragment that cannot
run on its own (a signature, an excerpt) starts with the line
``# not run: <why>``: it is only compiled, so it must still be valid Python.
A sample that needs POSIX (``fork``, POSIX signals) starts with the line
``# POSIX only: <why>``: it runs everywhere else, and is skipped on Windows
with that reason.

Each sample is a complete program that demonstrates: it prints what happens,
and the page shows what it prints in the block right after it,

.. code-block:: text
   :caption: Output

which is what the test checks. A sample runs as a script (``__main__``) in a
fresh interpreter, in an empty directory, with a time bound; it fails if it
exits non-zero, times out, prints a traceback to stderr (gevent reports an
exception that kills a greenlet there without changing the exit status), or
prints anything but its output block. Every sample that runs has one.

Each sample that may start a process (it mentions ``start_process``,
``Process``, ``call_in_process`` or ``multiprocessing``) runs twice: with the
interpreter's default start method, and with ``spawn`` forced (a first line
``multiprocessing.set_start_method("spawn", force=True)`` is added), because
Python 3.14 makes ``forkserver`` the Linux default and a sample that works
under ``spawn`` works under every method: targets at module level, entry
point behind ``if __name__ == "__main__":``.
When ``GIPC_TEST_START_METHOD`` is set (CI runs the suite once per method),
each sample runs once, with that method forced. ``GEVENT_LOOP`` is inherited,
so the samples also run on the loop backend the suite runs on.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PYTHON_LANGS = frozenset({"python", "python3", "py", "py3"})
NOT_RUN = "# not run:"
POSIX_ONLY = "# POSIX only:"
OUTPUT_CAPTION = "Output"
SAMPLE_TIMEOUT = 90.0
# The modules whose __all__ the API reference documents (docs/conf.py).
API_MODULES = ("gipc_transport", "gipc_transport.lowlevel", "gipc_process", "gipc", "gipc.gipc")
# Modules of the fork and forkserver starts, which need POSIX (os.fork,
# waitpid): Windows cannot import them.
POSIX_MODULES = frozenset(
    {"gipc_process._fork", "gipc_process._forker", "gipc_process._forkserver", "gipc_process._watch"}
)
FORCE_METHOD = "import multiprocessing; multiprocessing.set_start_method({!r}, force=True)\n"
# None: the interpreter's default start method. Where spawn is the only
# method (Windows), it is the default: once is enough.
if os.environ.get("GIPC_TEST_START_METHOD"):
    START_METHODS: tuple[str | None, ...] = (os.environ["GIPC_TEST_START_METHOD"],)
elif sys.platform == "win32":
    START_METHODS = (None,)
else:
    START_METHODS = (None, "spawn")

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_HIGHLIGHT = re.compile(r"^\s*\.\.\s+highlight::\s*(?P<lang>\S+)\s*$")
_OPTION = re.compile(r"^\s*:[\w-]+:")
_STARTS_PROCESSES = re.compile(r"start_process|Process|call_in_process|multiprocessing")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.|#\.)\s+")
_CAPTION = re.compile(r"^\s*:caption:\s*(?P<caption>.*?)\s*$")


@dataclass(frozen=True)
class Sample:
    path: str  # relative to docs/
    line: int  # 1-based line of the first line of code
    code: str
    output: str | None = None  # what the page shows it prints

    @property
    def run(self) -> bool:
        return not self.code.lstrip().startswith(NOT_RUN)

    @property
    def posix_only(self) -> str | None:
        """Why the sample cannot run on Windows (``fork``, POSIX signals), if it says so."""
        first = self.code.lstrip().splitlines()[0] if self.code.strip() else ""
        return first[len(POSIX_ONLY) :].strip() if first.startswith(POSIX_ONLY) else None

    @property
    def starts_processes(self) -> bool:
        return bool(_STARTS_PROCESSES.search(self.code))

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _text_indent(line: str) -> int:
    """Where the text of ``line`` starts: after a list bullet, if any."""
    m = _BULLET.match(line)
    return m.end() if m else _indent(line)


def _block(lines: list[str], start: int, parent_indent: int) -> tuple[int, int, str]:
    """The indented body that begins at or after ``start``: (first line, end, dedented text)."""
    i = start
    while (
        i < len(lines)
        and (not lines[i].strip() or _OPTION.match(lines[i]))
        and (not lines[i].strip() or _indent(lines[i]) > parent_indent)
    ):
        i += 1
    first = i
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > parent_indent):
        i += 1
    body = lines[first:i]
    while body and not body[-1].strip():
        body.pop()
    if not body:
        return first, i, ""
    cut = min(_indent(x) for x in body if x.strip())
    return first, i, "\n".join(x[cut:] for x in body) + "\n"


def _output_after(lines: list[str], i: int) -> str | None:
    """The body of the ``text`` block captioned Output that follows line ``i``, if one does."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not (m := _DIRECTIVE.match(lines[i])) or m["lang"] != "text":
        return None
    j = i + 1
    captions = []
    while j < len(lines) and _OPTION.match(lines[j]):
        if c := _CAPTION.match(lines[j]):
            captions.append(c["caption"])
        j += 1
    if OUTPUT_CAPTION not in captions:
        return None
    return _block(lines, i + 1, len(m["indent"]))[2]


def extract(text: str, path: str = "<rst>") -> list[Sample]:
    """The Python samples in one reST document, in order."""
    lines = text.splitlines()
    samples: list[Sample] = []
    default_lang = "python3"
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _HIGHLIGHT.match(line):
            default_lang = m["lang"]
            i += 1
            continue
        if m := _DIRECTIVE.match(line):
            first, i, code = _block(lines, i + 1, len(m["indent"]))
            # Without a language, Sphinx highlights as the current default does.
            if (m["lang"] or default_lang) in PYTHON_LANGS and code:
                samples.append(Sample(path, first + 1, code, _output_after(lines, i)))
            continue
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.lstrip().startswith(".."):
            first, i, code = _block(lines, i + 1, _text_indent(line))
            if default_lang in PYTHON_LANGS and code:
                samples.append(Sample(path, first + 1, code))
            continue
        i += 1
    return samples


def _pages() -> list[Path]:
    skip = ("_build", "_generated")
    return [p for p in sorted(DOCS.rglob("*.rst")) if p.relative_to(DOCS).parts[0] not in skip]


def _docstrings() -> dict[str, str]:
    """``{qualified name: docstring}`` of what the docs include from the code."""
    names = set(API_MODULES)
    for page in _pages():
        names.update(re.findall(r"^\s*\.\.\s+automodule::\s*(\S+)", page.read_text(encoding="utf-8"), re.M))
    docs: dict[str, str] = {}
    for modname in sorted(names):
        if sys.platform == "win32" and modname in POSIX_MODULES:
            continue  # they do not import there; the Linux runs check their samples
        module = importlib.import_module(modname)
        docs[modname] = inspect.getdoc(module) or ""
        if modname not in API_MODULES:
            continue  # the architecture page includes module docstrings only
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            docs[f"{modname}.{name}"] = inspect.getdoc(obj) or ""
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    doc = inspect.getdoc(member) if not attr.startswith("__") else None
                    if doc:
                        docs[f"{modname}.{name}.{attr}"] = doc
    return docs


def doc_samples() -> list[Sample]:
    found: list[Sample] = []
    for page in _pages():
        found.extend(extract(page.read_text(encoding="utf-8"), page.relative_to(DOCS).as_posix()))
    for qualname, doc in _docstrings().items():
        found.extend(extract(doc, f"docstring:{qualname}"))
    return found


def run_sample(
    sample: Sample, workdir: Path, start_method: str | None, timeout: float = SAMPLE_TIMEOUT
) -> str | None:
    """Run ``sample``; return ``None`` on success, or what went wrong."""
    if not sample.run:
        try:
            compile(sample.code, sample.id, "exec")
        except SyntaxError as exc:
            return f"compile-only sample is not valid Python: {exc}"
        return None
    script = workdir / "sample.py"
    header = FORCE_METHOD.format(start_method) if start_method else ""
    script.write_text(header + sample.code, encoding="utf-8")
    # Its own session, so that on a hang the sample's children go down with it.
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(proc)
        out, err = proc.communicate()
        return f"timed out after {timeout} s\n--- stdout\n{out}\n--- stderr\n{err}"
    finally:
        _kill_session(proc)
    if proc.returncode != 0:
        return f"exit status {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"
    if "Traceback (most recent call last)" in err:
        return f"exit status 0 but a traceback on stderr\n--- stdout\n{out}\n--- stderr\n{err}"
    if sample.output is not None and _lines(out) != _lines(sample.output):
        shown = sample.output
        return f"printed something else than its Output block\n--- printed\n{out}\n--- the block\n{shown}"
    return None


def _kill_session(proc: subprocess.Popen[str]) -> None:
    """Reap whatever the sample left running in its session (never other processes)."""
    if sys.platform == "win32":
        # No sessions to kill at once: the sample itself. The leak check
        # fails the test if a child of it outlives it.
        proc.kill()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


SAMPLES = doc_samples()


def _cases() -> list[object]:
    cases: list[object] = []
    for sample in SAMPLES:
        # A sample that starts no process, or is only compiled, is checked once.
        for method in START_METHODS if sample.run and sample.starts_processes else START_METHODS[:1]:
            cases.append(pytest.param(sample, method, id=f"{sample.id}-{method or 'default'}"))
    return cases


@pytest.mark.parametrize("sample, start_method", _cases())
def test_doc_sample(sample: Sample, start_method: str | None, tmp_path: Path) -> None:
    if sys.platform == "win32" and sample.posix_only:
        pytest.skip(f"POSIX only: {sample.posix_only}")
    problem = run_sample(sample, tmp_path, start_method)
    assert problem is None, f"docs/{sample.id}: {problem}"


def test_docs_have_samples() -> None:
    # Guards the extractor: if it stopped finding samples, every test above
    # would vanish and the suite would still pass.
    pages = {s.path for s in SAMPLES}
    assert {"index.rst", "overview.rst", "quickstart.rst", "usage.rst"} <= pages
    assert sum(s.path == "usage.rst" for s in SAMPLES) >= 10


def test_every_sample_that_runs_shows_its_output() -> None:
    # A sample teaches by printing what happens; the page shows what it prints.
    missing = [s.id for s in SAMPLES if s.run and s.output is None]
    assert not missing, f"samples without an Output block after them: {missing}"


def test_docstrings_are_searched() -> None:
    docs = _docstrings()
    assert "gipc_transport.Reader.get" in docs and "gipc_transport._wire" in docs
    assert all(docs[name] for name in API_MODULES)


EXAMPLE_RST = """\
Title
=====

Runs::

    print("literal block")

.. code-block:: python
   :caption: with an option

   import sys
   sys.exit(0)

.. code-block:: text
   :caption: Output

   exiting

.. code-block:: console

   $ not python

.. code-block::

   z = 3

.. note::

   Nested:

   .. code-block:: python

      x = 1

- A list item with a sample::

    y = 2

  and text after it in the same item.

.. highlight:: text

Not Python any more::

    $ echo text
"""


def test_extract_finds_python_blocks_only() -> None:
    samples = extract(EXAMPLE_RST, "example.rst")
    assert [(s.line, s.code, s.output) for s in samples] == [
        (6, 'print("literal block")\n', None),
        (11, "import sys\nsys.exit(0)\n", "exiting\n"),
        (25, "z = 3\n", None),
        (33, "x = 1\n", None),
        (37, "y = 2\n", None),
    ]


@pytest.mark.parametrize(
    "code, expected",
    [
        ("raise SystemExit(3)\n", "exit status 3"),
        ("assert 1 == 2\n", "AssertionError"),
        ("import gevent\ngevent.spawn(lambda: 1 / 0).join()\n", "traceback on stderr"),
        ("import time\ntime.sleep(60)\n", "timed out"),
        ("# not run: broken on purpose\ndef f(:\n", "not valid Python"),
        ("print('something else')\n", "printed something else"),
        ("print('one')\nprint('two')\nprint('three')\n", "printed something else"),
    ],
    ids=[
        "exit-status",
        "assert",
        "greenlet-traceback",
        "hang",
        "compile-only-syntax",
        "output",
        "more-output",
    ],
)
def test_broken_sample_fails(code: str, expected: str, tmp_path: Path) -> None:
    sample = Sample("broken.rst", 1, code, "one\ntwo\n")
    problem = run_sample(sample, tmp_path, start_method=None, timeout=3)
    assert problem is not None and expected in problem


def test_a_sample_that_prints_its_output_passes(tmp_path: Path) -> None:
    sample = Sample("good.rst", 1, "print('one')\nprint('two  ')\n", "one\ntwo\n")
    assert run_sample(sample, tmp_path, start_method=None) is None


@pytest.mark.skipif(sys.platform == "win32", reason="fork: Windows has spawn only, no other method to force")
def test_start_method_is_forced(tmp_path: Path) -> None:
    code = "import multiprocessing\nassert multiprocessing.get_start_method() == 'spawn'\n"
    assert run_sample(Sample("good.rst", 1, code), tmp_path, start_method="spawn") is None
    problem = run_sample(Sample("good.rst", 1, code), tmp_path, start_method="fork")
    assert problem is not None and "AssertionError" in problem
