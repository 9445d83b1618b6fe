"""The scrubbing engine both the PII stage and the rejected-row scrubber use: the scanner,
the optional NER model and the replacement, loaded once per worker."""

from __future__ import annotations

import traceback

from prep.stages.pii.config import Config
from prep.stages.pii.replace import Pseudonymizer, placeholder, rewrite
from prep.stages.pii.scanner import Found, Hit, Scanner


class Scrubber:
    """Finds PII values in texts and rewrites them (placeholders or keyed pseudonyms)."""

    def __init__(self, config: Config, seed: int = 0):
        self.config = config
        self.scanner = Scanner(config)
        self.ner = None
        if config.ner_entities:
            from prep.stages.pii.ner import NerModel

            self.ner = NerModel(config.ner_model, config.ner_entities)
        if config.replace == "pseudonym":
            self.replacement = Pseudonymizer(seed, config.resolved_salt())
        else:
            self.replacement = lambda entity, _value: placeholder(entity)

    def find(self, texts: list[str], langs: list[str | None] | None = None) -> list[Found]:
        """What the recognizers (and NER, in each model's language) find in each text."""
        ner = None
        if self.ner is not None:
            ner = [[Hit(*f) for f in doc] for doc in self.ner.find(texts, langs)]
        return self.scanner.scan(texts, ner)

    def rewrite(self, text: str, found: Found) -> str:
        return rewrite(text, found.spans, self.replacement) if found.spans else text

    def scrub(self, texts: list[str | None]) -> list[str | None]:
        """The texts with every value found replaced, nothing else."""
        try:
            found = self.find([t or "" for t in texts])
            return [self.rewrite(t, f) if t else t for t, f in zip(texts, found, strict=True)]
        except Exception as exc:
            raise withheld(exc, len(texts)) from None


def withheld(exc: Exception, rows: int) -> RuntimeError:
    """An error that names where it happened but not its message: that may quote the text."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return RuntimeError(
        f"pii: {type(exc).__name__} at {where.filename}:{where.lineno} in a batch of {rows} "
        f"documents (message withheld: it may quote PII)"
    )
