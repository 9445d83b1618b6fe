"""The scrubbing engine both the PII stage and the rejected-row scrubber use: the scanner,
the optional NER model, the secrets detector (code domains) and the replacement, loaded
once per worker."""

from __future__ import annotations

import traceback
from collections import Counter

from prep.stages.pii.config import Config
from prep.stages.pii.replace import Pseudonymizer, placeholder, rewrite
from prep.stages.pii.scanner import Found, Hit, Scanner, resolve
from prep.stages.pii.secrets import SECRET_PLACEHOLDER, SecretsDetector, entity, is_secret


class Scrubber:
    """Finds PII values in texts and rewrites them (placeholders or keyed pseudonyms)."""

    def __init__(self, config: Config, seed: int = 0):
        self.config = config
        self.scanner = Scanner(config)
        self.ner = None
        if config.ner_entities:
            from prep.stages.pii.ner import NerModel

            self.ner = NerModel(config.ner_model, config.ner_entities)
        self.secrets = None
        if config.secrets.enabled:
            self.secrets = SecretsDetector(config.secrets.types)
        if config.replace == "pseudonym":
            pseudonym = Pseudonymizer(seed, config.resolved_salt())
            self.replacement = lambda kind, value: (
                SECRET_PLACEHOLDER if is_secret(kind) else pseudonym(kind, value)
            )
        else:
            self.replacement = lambda kind, _value: (
                SECRET_PLACEHOLDER if is_secret(kind) else placeholder(kind)
            )

    def find(
        self,
        texts: list[str],
        langs: list[str | None] | None = None,
        domains: list[str | None] | None = None,
    ) -> list[Found]:
        """What the recognizers (and NER, in each model's language) find in each text, and the
        secrets in the texts of the domains `secrets.domains` names (none without `domains`)."""
        ner = None
        if self.ner is not None:
            ner = [[Hit(*f) for f in doc] for doc in self.ner.find(texts, langs)]
        found = self.scanner.scan(texts, ner)
        if self.secrets is not None and domains is not None:
            for i, (text, domain) in enumerate(zip(texts, domains, strict=True)):
                if text and self.config.secrets.applies_to(domain):
                    found[i] = self._with_secrets(text, found[i])
        return found

    def _with_secrets(self, text: str, found: Found) -> Found:
        """The document's PII spans joined with its secrets: overlaps become one span named after
        the widest (a basic-auth password inside a URL with credentials is one <URL>)."""
        hits = self.secrets.find(text)
        if not hits:
            return found
        allowed = Counter(found.allowed)
        keep = []
        for h in hits:
            name = entity(h.name)
            if text[h.start : h.end] in self.scanner.allow.values:  # allow.values: exact, like PII
                allowed[name] += 1
            else:
                keep.append(Hit(name, h.start, h.end, 1.0))
        # secrets first: on a tie in width the first hit names the span
        keep += [Hit(e, a, b, 1.0) for a, b, e in found.spans]
        return Found(resolve(keep), allowed)

    def counters(self) -> Counter:
        """Work done so far (windows, characters, secret candidate lines), for metrics."""
        out = Counter(self.scanner.counters)
        if self.secrets is not None:
            out.update(self.secrets.counters)
        return out

    def rewrite(self, text: str, found: Found) -> str:
        return rewrite(text, found.spans, self.replacement) if found.spans else text

    def scrub(self, texts: list[str | None], domains: list[str | None] | None = None) -> list[str | None]:
        """The texts with every value found replaced, nothing else (secrets too in the texts
        of `secrets.domains`, when the rows' `domains` are given)."""
        try:
            found = self.find([t or "" for t in texts], domains=domains)
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
