"""User mistakes in settings: one error type, messages that name the key path.

Pipeline configs, training settings and ablation configs all report a bad value the same
way, `stages[0].langid.threshold: ...`, and every command maps `ConfigError` to exit code 2.
"""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(Exception):
    """A user mistake in the config or on the command line (exit code 2)."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        self.source = source
        head = f"invalid config {source}" if source else "invalid config"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in problems))


def format_loc(prefix: str, loc: tuple) -> str:
    """`prefix` and a pydantic location as a key path: `stages[2].dedup.threshold`."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def error_lines(
    err: ValidationError, prefix: str = "", missing: str = "required key is missing"
) -> list[str]:
    """One line per pydantic error: the key path, then what was wrong and what was given."""
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = format_loc(prefix, loc)
        if e["type"] == "extra_forbidden":
            out.append(f"{where}: unknown key")
        elif e["type"] == "missing":
            out.append(f"{where}: {missing}")
        else:
            got = e.get("input")
            shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
            out.append(f"{where}: {e['msg']} (got {shown[:80]})")
    return out
