"""Optional parts of prep and the extra that installs each: a missing one is a usage error
that says what to install, not an ImportError from deep inside a command."""

from __future__ import annotations

import importlib.util

from prep.core.settings import ConfigError

#: Extra -> the import it provides and what needs it.
EXTRAS = {
    "train": ("torch", "prep train and prep ablate"),
    "sample": ("gensim", "building the bundled sample corpus"),
    "litdata": ("litdata", "prep export --format litdata"),
    "hf": ("transformers", "the classifier stage's hf_model"),
}


def require(extra: str) -> None:
    """Raise ConfigError (exit code 2) naming the extra when its package is not installed."""
    module, what = EXTRAS[extra]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            [f"{what} needs the {extra} extra: pip install 'prep[{extra}]' (no module {module!r})"]
        )
