"""A failure inside a Ray worker, told in one line: the stage, the file or document, the cause.

Ray hands the driver a remote traceback wrapped in its own exception types; the CLI prints
`StepFailed`'s message instead (the traceback only with --verbose). The message never holds
document text: a cause whose message quotes the document is withheld.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Longest part of an exception message kept (the first line only).
MAX_CAUSE_CHARS = 200
#: A message sharing this many consecutive characters with the document is taken to quote it.
QUOTE_CHARS = 12


class StepFailed(RuntimeError):
    """A stage or reader raised on some input: a bug or an input prep cannot handle."""

    @classmethod
    def of(cls, stage: str, where: str, exc: BaseException, texts: Iterable[str | None] = ()) -> StepFailed:
        return cls(f"stage {stage} failed on {where}: {describe(exc, texts)}")


def describe(exc: BaseException, texts: Iterable[str | None] = ()) -> str:
    """`Type: first line of the message`, the message withheld if it quotes any of `texts`."""
    lines = str(exc).strip().splitlines()
    message = lines[0][:MAX_CAUSE_CHARS] if lines else ""
    if message and _quotes(message, texts):
        message = "(message withheld: it quotes the document)"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _quotes(message: str, texts: Iterable[str | None]) -> bool:
    windows = {message[i : i + QUOTE_CHARS] for i in range(max(len(message) - QUOTE_CHARS + 1, 0))}
    windows = {w for w in windows if w.strip() and not w.isdigit()}
    return any(text and any(w in text for w in windows) for text in texts)


def find_failure(exc: BaseException) -> StepFailed | None:
    """The `StepFailed` behind what Ray raised in the driver (its cause chain), if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        cause = getattr(e, "cause", None)  # Ray's RayTaskError: the worker's own exception
        if isinstance(cause, BaseException):
            todo.append(cause)  # even if `e` passes for a StepFailed, its text is the traceback
        elif isinstance(e, StepFailed):
            return e
        todo += [e.__cause__, e.__context__]
    return None
