"""Built-in corpora of real, human-written text that every install already has on disk.

* `python_code`: the `.py` files of the running interpreter's standard library
  (`sysconfig.get_paths()["stdlib"]`), test suites and site-packages left out: they are a
  different register (generated fixtures, huge tables) and would dominate the domain.
* `python_prose`: English prose from the same files — every module, class and function
  docstring (`ast.get_docstring`) and every comment of at least two words (`tokenize`).
* `licenses`: legal text — the license, copying and notice files recorded in the metadata of
  the distributions installed beside this interpreter (`importlib.metadata`), plus Python's
  own LICENSE.txt.

Each input is listed with a stable key (its path relative to its root) in sorted order, so
a corpus is a deterministic function of the installed files; the Python version and
`EXTRACTOR_VERSION` enter the corpus fingerprint, since they change what comes out.
"""

from __future__ import annotations

import ast
import importlib.metadata
import io
import os
import sys
import sysconfig
import tokenize
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from configs.data import BUILTIN_CORPORA

EXTRACTOR_VERSION = 1
"""Bump when what a built-in corpus extracts changes, so cached token arrays are rebuilt."""

_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"})
_LICENSE_WORDS = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
# License-named files that are code or markup, not legal prose.
_NOT_PROSE_SUFFIXES = frozenset({".py", ".pyc", ".pyi", ".so", ".pyd", ".dll", ".dylib", ".js", ".json",
                                 ".html", ".htm", ".css", ".png", ".svg", ".gz", ".zip"})
_PRAGMAS = ("noqa", "type:", "pragma", "-*-", "fmt:", "pylint:", "!")


def python_version() -> str:
    """The interpreter version that built-in corpora are read from, e.g. ``3.11.7``."""
    return ".".join(str(part) for part in sys.version_info[:3])


def stdlib_root() -> Path:
    """The running interpreter's standard-library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_sources() -> list[tuple[str, Path]]:
    """(relative posix path, path) of every standard-library `.py` file, sorted."""
    root = stdlib_root()
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                path = Path(folder, name)
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def license_files() -> list[tuple[str, Path]]:
    """(key, path) of every license file of the installed distributions, plus Python's.

    Only this interpreter's site-packages are searched (not `sys.path`, which differs between
    a driver and its Ray workers), so every process sees the same corpus.
    """
    paths = sysconfig.get_paths()
    roots = sorted({paths["purelib"], paths["platlib"]})
    found: dict[str, Path] = {}
    python_license = stdlib_root() / "LICENSE.txt"
    if python_license.is_file():
        found["python/LICENSE.txt"] = python_license
    for dist in importlib.metadata.distributions(path=roots):
        for record in dist.files or ():
            pure = PurePosixPath(str(record))
            if not any(word in pure.name.upper() for word in _LICENSE_WORDS):
                continue
            if pure.suffix.lower() in _NOT_PROSE_SUFFIXES:
                continue
            path = Path(str(dist.locate_file(record)))
            if path.is_file():
                found.setdefault(str(pure), path)
    return sorted(found.items())


def builtin_inputs(name: str) -> list[tuple[str, Path]]:
    """The input files of built-in corpus `name`, as (key, path), sorted by key."""
    if name not in BUILTIN_CORPORA:
        raise ValueError(f"unknown built-in corpus '{name}'; known: {', '.join(BUILTIN_CORPORA)}")
    return license_files() if name == "licenses" else stdlib_sources()


def builtin_texts(name: str, inputs: list[tuple[str, Path]]) -> Iterator[tuple[str, str]]:
    """(key, text) of each document of corpus `name`; undecodable inputs are skipped."""
    for key, path in inputs:
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        yield key, extract_prose(source) if name == "python_prose" else source


def extract_prose(source: str) -> str:
    """Docstrings and comments of a Python source, as paragraphs in source order.

    Comments shorter than two words (`# noqa`, `# XXX`, commented-out names) and pragmas
    are left out: they are markup, not prose. A file that does not parse yields "".
    """
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, ValueError, tokenize.TokenError):
        return ""
    pieces: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node)
            if docstring and node.body:
                pieces.append((node.body[0].lineno, docstring.strip()))
    pieces += [(tok.start[0], text) for tok in tokens if tok.type == tokenize.COMMENT
               for text in [_comment_text(tok.string)] if text]
    return _join_paragraphs(sorted(pieces))


def _comment_text(comment: str) -> str:
    text = comment.lstrip("#").strip()
    if len(text.split()) < 2 or text.startswith(_PRAGMAS) or not any(c.isalpha() for c in text):
        return ""
    return text


def _join_paragraphs(pieces: list[tuple[int, str]]) -> str:
    """Consecutive comment lines form one paragraph; docstrings are paragraphs of their own."""
    out: list[str] = []
    last_line = -2
    for line, text in pieces:
        joined_to_previous = line == last_line + 1 and "\n" not in text and out and "\n" not in out[-1]
        if joined_to_previous:
            out[-1] += " " + text
        else:
            out.append(text)
        last_line = line + text.count("\n")
    return "\n\n".join(out)
