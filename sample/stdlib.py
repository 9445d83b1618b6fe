"""Real text out of the Python standard library on disk: its code, its docstrings, its reference.

The file set is chosen by sorted relative path, so two machines with the same Python build get
the same documents; another Python version (patch releases included) gives other file contents,
which is why the manifest records the Python version.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

from prep.sample import locate

#: Folders that hold tests, caches, installed packages or build data rather than library code.
SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "idle_test",
        "__pycache__",
        "site-packages",
        "dist-packages",
        "lib-dynload",
        "ensurepip",
    }
)

#: Files that are data or machine-specific (the sysconfig data names the build machine's paths).
SKIP_FILES = ("_sysconfigdata", "topics.py")

#: Larger files are generated tables more than code.
MAX_FILE_BYTES = 400_000


@dataclass
class SourceFile:
    relpath: str  # relative to the stdlib folder, POSIX separators
    text: str


def source_files() -> list[SourceFile]:
    """Every .py file of the stdlib outside tests and build folders, in sorted path order."""
    root = locate.stdlib_dir()
    found: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("config-"))
        for name in sorted(filenames):
            if not name.endswith(".py") or name.startswith(SKIP_FILES):
                continue
            path = Path(dirpath) / name
            data = path.read_bytes()
            if len(data) > MAX_FILE_BYTES:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if not text.strip():  # empty __init__.py files: nothing to read
                continue
            found.append(SourceFile(path.relative_to(root).as_posix(), text))
    found.sort(key=lambda f: f.relpath)
    return found


@dataclass
class Digest:
    module: str  # dotted module name
    package: str  # top-level package, "" for a single-file module
    sections: list[tuple[str, str]]  # (heading, docstring)

    def text(self) -> str:
        return "\n\n".join(f"{h}\n\n{d}" if h else d for h, d in self.sections)

    def size(self) -> int:
        return sum(len(d) for _, d in self.sections)


def _module_name(relpath: str) -> str:
    parts = relpath[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def docstring_digest(src: SourceFile, min_doc_chars: int = 160) -> Digest | None:
    """The module's docstring and its longer class and function docstrings, in source order."""
    try:
        tree = ast.parse(src.text)
    except SyntaxError:
        return None
    module = _module_name(src.relpath)
    sections: list[tuple[str, str]] = []
    head = ast.get_docstring(tree)
    if head:
        sections.append(("", head))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= min_doc_chars:
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                sections.append((f"The {node.name} {kind}", doc))
    if not sections:
        return None
    package = module.split(".", 1)[0] if "/" in src.relpath else ""
    return Digest(module, package, sections)


def reference_topics() -> list[tuple[str, str]]:
    """(topic, text) of the language reference that `help()` shows (pydoc_data/topics.py)."""
    path = locate.stdlib_dir() / "pydoc_data" / "topics.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            topics = ast.literal_eval(node.value)
            return sorted((k, v) for k, v in topics.items() if isinstance(v, str))
    return []


def licence_text() -> str:
    """The Python licence file: the history of the software and its licences, as prose."""
    path = locate.stdlib_dir() / "LICENSE.txt"
    return path.read_text(encoding="utf-8") if path.is_file() else ""
