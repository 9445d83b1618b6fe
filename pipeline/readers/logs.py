"""Third-party loggers that speak once per record.

trafilatura warns for every page it finds no text in, warcio for every URI with a space; the
rejection row (or the repaired URL) already says it, and a crawl has millions of records.
"""

from __future__ import annotations

import logging

_done: set[str] = set()


def quiet(*names: str) -> None:
    """Raise these loggers to CRITICAL, unless the user has set a level on them."""
    for name in names:
        if name not in _done:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.CRITICAL)
            _done.add(name)
