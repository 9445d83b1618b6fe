"""Presidio's pattern recognizers, built offline, one set per entity the config asks for.

They are Presidio's own classes (regexes, checksums, phonenumbers validation), with five
changes, each measured on the bundled sample's planted values:

- e-mail: the domain check uses a tldextract instance with the bundled suffix list only
  (`suffix_list_urls=()`, no cache dir), so it never tries the network or writes a cache;
- IBAN: built directly, with its own case-sensitive flags. The registry Presidio builds by
  default compiles every pattern with IGNORECASE, which lets the IBAN regex swallow the next
  word as a last group ("ES44 0572 ... until") and fail the checksum: naive Presidio missed
  3 of the 33 planted IBANs that way;
- credit cards: Mastercard's 2221-2720 range, missing from Presidio's regex, is added;
- phone numbers: phonenumbers only accepts numbers valid for the configured regions; a
  phone-shaped run of 7-15 digits after a phone word ("Telefonnummer 0053786222",
  "call +3104-1110508") counts too, at score 0.5. 3 of the sample's 27 planted numbers
  (Faker formats no numbering plan accepts) are found only this way;
- URLs: Presidio's URL regex has no user:password part (it matched 2,833 "os.path"-like
  fragments in the sample's books and papers and none of the 16 URLs with credentials);
  prep's URL recognizer matches URLs that carry credentials, plus plain URLs with `url: all`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)

#: Presidio logs matched text (the IBAN validator logs "Failed to validate text <value>").
PRESIDIO_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")


def silence_presidio() -> None:
    """No PII value may reach a log: Presidio's loggers are switched off in workers."""
    for name in PRESIDIO_LOGGERS:
        logging.getLogger(name).disabled = True


def offline_tldextract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail regex; the domain must have a public suffix (bundled list, no network)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._extract = offline_tldextract()

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""


class CardRecognizer(CreditCardRecognizer):
    """Presidio's card regex and Luhn check, plus Mastercard 2-series numbers."""

    PATTERNS: ClassVar[list[Pattern]] = [
        *CreditCardRecognizer.PATTERNS,
        Pattern(
            "Mastercard 2-series (weak)",
            r"\b(2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720))[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b",
            0.3,
        ),
    ]

    def __init__(self, **kwargs):
        super().__init__(patterns=list(self.PATTERNS), **kwargs)


class UrlCredentialsRecognizer(PatternRecognizer):
    """URLs with a user:password part: credentials are personal data, a plain URL is not."""

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "URL with credentials",
            # scheme://user:password@host[:port][/path], a path not ending in punctuation
            r"\b[a-z][a-z0-9+.\-]{1,15}://[^\s:/?#@\[\]]+:[^\s/?#@]+@[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?"
            r"(?::\d+)?(?:[/?#](?:[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?)?",
            0.9,
        )
    ]

    def __init__(self, **kwargs):
        super().__init__(supported_entity="URL", patterns=list(self.PATTERNS), context=["url"], **kwargs)


class PhoneContextRecognizer(PatternRecognizer):
    """A phone-shaped number (7-15 digits, not a date), valid in no region or not: the
    scanner keeps it only after a phone word (5 words back at most, on the same line)."""

    SCORE = 0.5
    NAME = "PhoneContextRecognizer"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "Phone after a phone word",
            # 7-15 digits, not a date (2003-04-24, 24.04.2003), maybe "(0121)..." or "x123"
            r"(?<![\w+(])(?!\d{4}-\d\d-\d\d(?!\d)|\d\d?[./]\d\d?[./]\d{2,4}(?!\d))"
            r"(?:\+|00|\()?\d(?:[ ./\-()]{0,2}\d){6,14}(?: ?(?:x|ext\.?) ?\d{1,6})?(?!\w)",
            SCORE,
        )
    ]

    def __init__(self, **kwargs):
        super().__init__(
            supported_entity="PHONE_NUMBER", patterns=list(self.PATTERNS), name=self.NAME, **kwargs
        )


def build_recognizers(entities: list[str], phone_regions: list[str], url: str) -> dict[str, list]:
    """entity -> the Presidio recognizers that find it."""
    factories = {
        "EMAIL_ADDRESS": lambda: [OfflineEmailRecognizer()],
        "PHONE_NUMBER": lambda: [
            PhoneRecognizer(supported_regions=tuple(phone_regions)),
            PhoneContextRecognizer(),
        ],
        "CREDIT_CARD": lambda: [CardRecognizer()],
        "IBAN_CODE": lambda: [IbanRecognizer()],
        "IP_ADDRESS": lambda: [IpRecognizer()],
        "US_SSN": lambda: [UsSsnRecognizer()],
        "CRYPTO": lambda: [CryptoRecognizer()],
        "MAC_ADDRESS": lambda: [MacAddressRecognizer()],
        "URL": lambda: [UrlCredentialsRecognizer()] + ([UrlRecognizer()] if url == "all" else []),
    }
    out: dict[str, list[EntityRecognizer]] = {}
    for entity in entities:
        recognizers = factories[entity]()
        for r in recognizers:
            r.load()
        out[entity] = recognizers
    return out
