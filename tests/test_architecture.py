"""The import contract: one installed package, layers that point one way, no circles, and no
module reaching for another's private names.

The layers (docs/design.md):

    prep (application: CLI, bootstrap, ablation)  may import every package below
    prep.pipeline   -> prep.stages (the registry only), prep.core
    prep.training   -> prep.core
    prep.stages     -> prep.core          (and a stage never imports another stage)
    prep.sample     -> prep.core
    prep.core       -> nothing of prep

Every import counts, including those inside functions: a lazy import still ties two modules.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
APP = "prep"

#: Component -> the components its modules may import (besides their own).
ALLOWED: dict[str, set[str]] = {
    "prep.core": set(),
    "prep.stages": {"prep.core"},
    "prep.training": {"prep.core"},
    "prep.sample": {"prep.core"},
    "prep.pipeline": {"prep.core", "prep.stages"},
    APP: {"prep.core", "prep.stages", "prep.training", "prep.sample", "prep.pipeline"},
}


def package_dirs(repo: Path = REPO) -> dict[str, Path]:
    """pyproject's package-dir mapping: import package -> folder."""
    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {pkg: repo / folder for pkg, folder in setuptools["package-dir"].items()}


def modules(dirs: dict[str, Path]) -> dict[str, Path]:
    """Every module of the mapped folders by dotted name (a folder mapped on its own is skipped
    when walking its parent)."""
    out: dict[str, Path] = {}
    mapped = set(dirs.values())
    for pkg, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder)
            if any(folder / Path(*rel.parts[:i]) in mapped for i in range(1, len(rel.parts))):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of `prep` in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in known else (base, alias.name, node.lineno))
    return [f for f in found if f[0] == APP or f[0].startswith(APP + ".")]


def graph(mods: dict[str, Path]) -> dict[str, list[tuple[str, str | None, int]]]:
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def component(module: str) -> str:
    for comp in sorted(ALLOWED, key=len, reverse=True):
        if comp != APP and (module == comp or module.startswith(comp + ".")):
            return comp
    return APP


def layer_violations(g: dict[str, list[tuple[str, str | None, int]]]) -> list[str]:
    out = []
    for mod, edges in g.items():
        comp = component(mod)
        for target, _name, line in edges:
            tcomp = component(target)
            if target == APP:  # the root package: `__version__`, and it imports nothing
                continue
            if tcomp != comp and tcomp not in ALLOWED[comp]:
                out.append(f"{mod}:{line} imports {target} ({comp} may not import {tcomp})")
            elif comp == "prep.pipeline" and tcomp == "prep.stages" and target != "prep.stages":
                out.append(f"{mod}:{line} imports {target} (the pipeline reaches stages by the registry)")
            elif comp == "prep.stages" and tcomp == comp:
                own, other = mod.split(".")[:3], target.split(".")[:3]
                if own != other and mod != "prep.stages":
                    out.append(f"{mod}:{line} imports {target} (a stage never imports another)")
    return out


def private_names(g: dict[str, list[tuple[str, str | None, int]]]) -> list[str]:
    return [
        f"{mod}:{line} imports {name} from {target}"
        for mod, edges in g.items()
        for target, name, line in edges
        if name and name.startswith("_") and not name.startswith("__") and target != mod
    ]


def cycles(g: dict[str, list[tuple[str, str | None, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w, _name, _line in g.get(v, []):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1 or any(t == v for t, _n, _l in g.get(v, [])):
                found.append(sorted(scc))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_every_package_folder_is_installed():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = package_dirs()
    on_disk = {name for name, path in modules(dirs).items() if path.name == "__init__.py"}
    assert set(setuptools["packages"]) == on_disk
    assert all(pkg == APP or pkg.startswith(APP + ".") for pkg in dirs)


def test_layers_point_one_way():
    g = graph(modules(package_dirs()))
    assert g[APP] == [], "the root package is imported by every layer: it must import nothing"
    assert layer_violations(g) == []


def test_no_import_cycles():
    assert cycles(graph(modules(package_dirs()))) == []


def test_no_module_imports_another_modules_private_name():
    mods = modules(package_dirs())
    bench = {f"bench.{p.stem}": p for p in sorted((REPO / "bench").glob("*.py"))}
    g = graph(mods)
    g.update({name: imports(name, path, set(mods)) for name, path in bench.items()})
    assert private_names(g) == []


def test_the_check_finds_a_circle_a_forbidden_import_and_a_private_name(tmp_path):
    """The checks above can fail: a tree with one of each mistake is caught, each by its check."""
    (tmp_path / "pyproject.toml").write_text(
        "[tool.setuptools]\n"
        'package-dir = {"prep" = "app", "prep.core" = "core", "prep.training" = "training"}\n'
        'packages = ["prep", "prep.core", "prep.training"]\n'
    )
    files = {
        "app/__init__.py": "",
        "app/cli.py": "from prep.training.train import _step\n",
        "core/__init__.py": "",
        "core/shards.py": "def read(): from prep.training import train\n",  # core -> training
        "training/__init__.py": "",
        "training/train.py": "from prep.training.loop import run\ndef _step(): ...\n",
        "training/loop.py": "def run():\n    from prep.training.train import _step\n",  # a lazy circle
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    g = graph(modules(package_dirs(tmp_path)))
    assert cycles(g) == [["prep.training.loop", "prep.training.train"]]
    assert layer_violations(g) == [
        "prep.core.shards:1 imports prep.training.train (prep.core may not import prep.training)"
    ]
    assert private_names(g) == [
        "prep.cli:1 imports _step from prep.training.train",
        "prep.training.loop:2 imports _step from prep.training.train",
    ]


def test_only_prep_is_importable_outside_the_checkout(tmp_path):
    """The install adds one top-level package: `pipeline`, `stages`, `training` are not importable
    from elsewhere, and `python -m prep` is the command line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = (
        "import importlib.util as u, prep.pipeline.runner, prep.training, prep.stages.langid; "
        "print([m for m in ('pipeline', 'stages', 'training', 'core', 'app', 'sample') if u.find_spec(m)])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "prep", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert help_text.returncode == 0 and "prep" in help_text.stdout and "ablate" in help_text.stdout


def test_the_driver_imports_no_model_library():
    """What the driver loads to validate every stage's config, plan the passes and name the UDFs
    (the rejected/ scrubber too) brings no Presidio, spaCy, torch or transformers: those load in
    the Ray workers that scrub. Imported by the PII stage's package they cost every `prep run`'s
    driver 3.8 CPU-s and 274 MB (measured), the most of its start-up."""
    heavy = ("presidio_analyzer", "spacy", "torch", "transformers", "detect_secrets")
    code = (
        "import sys, prep.cli, prep.pipeline.runner, prep.pipeline.output.rejected, prep.pipeline.report\n"
        "from prep.stages import STAGE_MODULES, stage_class, stage_config_model\n"
        "for name in STAGE_MODULES:\n"
        "    stage_config_model(name), stage_class(name).rejected_scrubber()\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
