"""Fields of a JSON record by dotted name: how sources and user benchmarks name nested values."""

from __future__ import annotations

from typing import Any

#: What `lookup` returns for a field the record does not have (None is a value: JSON null).
MISSING: Any = object()


def lookup(obj: dict, path: str) -> Any:
    """`obj[path]`, else the nested value at dotted `path`; `MISSING` when absent.

    The whole key is tried first so that a key that itself holds a dot still works.
    """
    if path in obj:
        return obj[path]
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value
