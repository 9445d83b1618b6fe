"""Presidio's pattern recognizers, built offline, one set per entity the config asks for.

They are Presidio's own classes (regexes, checksums, phonenumbers validation), with these
changes, each measured on the bundled sample's planted values or on the external DEV set
(`bench/pii_external_data.py`: formats nobody here designed):

- e-mail: the domain check uses a tldextract instance with the bundled suffix list only
  (`suffix_list_urls=()`, no cache dir), so it never tries the network or writes a cache;
- IBAN: built directly, with its own case-sensitive flags. The registry Presidio builds by
  default compiles every pattern with IGNORECASE, which lets the IBAN regex swallow the next
  word as a last group ("ES44 0572 ... until") and fail the checksum: naive Presidio missed
  3 of the 33 planted IBANs that way. A second, lower-case copy of the regex finds IBANs as
  people type them ("de89 3704 0044 0532 0130 00"; `CaselessIbanRecognizer`);
- credit cards: 12-19 digits on the card networks' issuer ranges, compact or grouped, Luhn
  (`CardRecognizer`): Presidio's regex stops at 13-17 digits in groups of 3-5 and misses
  Maestro, 18-19-digit, Mir, Mastercard 2-series, Amex 4-6-5 and Diners 4-6-4 numbers;
- phone numbers: phonenumbers only accepts numbers valid for the configured regions; a
  phone-shaped run of 7-15 digits after a phone word ("Telefonnummer 0053786222",
  "call +3104-1110508") counts too, at score 0.5. 3 of the sample's 27 planted numbers
  (Faker formats no numbering plan accepts) are found only this way. Numbers written as
  phone numbers (international form, or national form grouped as the region writes it)
  count with no phone word (`FreePhoneRecognizer`);
- URLs: Presidio's URL regex has no user:password part (it matched 2,833 "os.path"-like
  fragments in the sample's books and papers and none of the 16 URLs with credentials);
  prep's URL recognizer matches URLs that carry credentials, plus plain URLs with `url: all`.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberFormat, PhoneNumberMatcher
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
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

from prep.stages.pii.windows import PHONE_RUN, free_phone_text

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


#: Issuer ranges of the card networks (first digits -> card lengths), from the networks' published
#: IIN tables: UATP and JCB's old 1800/2131 (15), Mir 2200-2204 (16-19), Mastercard 2221-2720
#: (16), Amex 34/37 (15), Diners 300-305/3095/36/38/39 (14-19), JCB 3528-3589 (16-19), Visa
#: (13-19), Mastercard 51-55 (16), Maestro 50/56-69 (12-19), Discover/RuPay/UnionPay/Iran's
#: Shetab 60-65 (16-19), UnionPay 81 and Uzcard 8600 (16-19), Prostir/Troy/Humo 9 (16).
#: Where Presidio's regex took more lengths (13-17 after 3, 4, 5, 6), prep keeps them.
#: Presidio's regex takes 13-17 digits after 1, 3, 4, 50-55 or 6 in groups of 3-5 with any
#: separator pattern: it misses 12-digit Maestro, 18-19-digit UnionPay/Visa/JCB, Mir, Amex's
#: 4-6-5 and Diners' 4-6-4 groups, and matches Amazon-style order numbers
#: ("530-5102095-5408121"): 4 of prep's 6 false card replacements on the external DEV set.
CARD_LENGTHS: tuple[tuple[str, range], ...] = (
    ("1", range(15, 16)),
    ("2131", range(15, 16)),
    *((str(p), range(16, 20)) for p in range(2200, 2205)),
    *((str(p), range(16, 17)) for p in range(2221, 2721)),
    ("34", range(15, 16)),
    ("37", range(15, 16)),
    ("35", range(16, 20)),  # JCB is 3528-3589; Faker's "jcb16" draws all of 35xx
    *((p, range(14, 20)) for p in ("300", "301", "302", "303", "304", "305", "3095", "36", "38", "39")),
    ("4", range(13, 20)),
    ("50", range(12, 20)),
    ("5", range(13, 20)),
    *((str(p), range(12, 20)) for p in (56, 57, 58, 6304, 6390, 67)),
    ("6", range(13, 20)),
    ("81", range(16, 20)),
    ("8600", range(16, 20)),
    ("9", range(16, 17)),
)


def card_issuer_length_ok(digits: str) -> bool:
    return any(digits.startswith(p) and len(digits) in lengths for p, lengths in CARD_LENGTHS)


class CardRecognizer(CreditCardRecognizer):
    """Card numbers of every network: 12-19 digits on an issuer range (CARD_LENGTHS) that pass
    Luhn, written compact, in groups of four (the last shorter) or in Amex/Diners groups
    (4-6-5, 4-6-4), one separator throughout, not part of a longer run of digit groups."""

    _BEFORE = r"(?<![\w+\-.,/])"  # not inside a longer number, a decimal, a date or an id
    _AFTER = r"(?![\w\-]|[.,/:]\d)"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("Card number, compact (weak)", _BEFORE + r"\d{12,19}" + _AFTER, 0.3),
        Pattern(
            "Card number, groups of four (weak)",
            _BEFORE + r"\d{4}([ -])\d{4}\1\d{4}(?:\1\d{4})?(?:\1\d{1,4})?" + _AFTER,
            0.3,
        ),
        Pattern("Card number, 4-6-4/5 groups (weak)", _BEFORE + r"\d{4}([ -])\d{6}\1\d{4,5}" + _AFTER, 0.3),
    ]

    def __init__(self, **kwargs):
        super().__init__(patterns=list(self.PATTERNS), **kwargs)

    def validate_result(self, pattern_text: str) -> bool:
        digits = "".join(c for c in pattern_text if c.isdigit())
        return card_issuer_length_ok(digits) and super().validate_result(digits)


class CaselessIbanRecognizer(IbanRecognizer):
    """Presidio's IBAN regex and checksum, case-sensitive (see the module's note), plus the
    same regex in lower case: people type "de89 3704 0044 0532 0130 00" (naive Presidio's
    IGNORECASE finds it; prep missed 11 of the 26 IBANs of the external DEV set, all lower case)."""

    PATTERNS: ClassVar[list[Pattern]] = [
        *IbanRecognizer.PATTERNS,
        Pattern(
            "IBAN lower case",
            r"(?<![A-Za-z0-9])([a-z]{2}[0-9]{2}(?:[ -]?[a-z0-9]{4}){2,6})"
            r"((?:[ -]?[a-z0-9]{4})?)((?:[ -]?[a-z0-9]{1,3})?)(?![A-Za-z0-9])",
            0.5,
        ),
    ]

    def __init__(self, **kwargs):
        super().__init__(patterns=list(self.PATTERNS), **kwargs)

    def validate_result(self, pattern_text: str):
        return super().validate_result(pattern_text.upper())


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


class FreePhoneRecognizer(EntityRecognizer):
    """Phone numbers that count with no phone word nearby (score 0.5), where the writing
    itself says "phone number":

    - international form: "+" or "00" and a country code, valid for phonenumbers in that
      country (any country, not only `phone_regions`): "+234 802 123 4567", "0049 30 123456";
    - national form, valid in one of `phone_regions` and grouped the way phonenumbers formats
      that region's numbers (its EXACT_GROUPING leniency), with a separator other than one
      dot: "0121 234 5678", "(201) 555-0123", "06 12 34 56 78". A single block of digits
      ("0612345678") stays a weak match: in text it is as often an order or account number.

    Naive Presidio counts every number valid in its 8 regions, at 0.4 (its threshold is 0):
    on the external DEV set it found 0.86 of the phone numbers written with no phone word,
    and 33 false ones in 400 clean sentences (ISBNs, decimals, dates, order numbers); these
    two rules found 0.72 of them and 1 false one, which the gates of `free_phone_text` and
    `_glued` then removed.

    It reads the digit runs of its text itself instead of running PhoneNumberMatcher once per
    region over the windows: only regions where the run's digits (after the national prefix)
    fit one of phonenumbers' number-type patterns are tried, on the run alone
    (`_national_as_formatted`). Matchers over the windows in all 15 regions made prep 21x
    naive Presidio on `bench_pii.py`'s prose instead of 66x.
    """

    SCORE = 0.5
    NAME = "FreePhoneRecognizer"
    #: The region whose international prefix (00) phonenumbers reads; "+" works in any.
    IDD_REGION = "DE"

    def __init__(self, regions: list[str], **kwargs):
        super().__init__(supported_entities=["PHONE_NUMBER"], name=self.NAME, **kwargs)
        self.plans = []
        for region in regions:
            meta = PhoneMetadata.metadata_for_region(region)
            parsing = meta.national_prefix_for_parsing
            self.plans.append(
                (
                    region,
                    _valid_national_numbers(meta.country_code),
                    meta.national_prefix or "",
                    re.compile(parsing) if parsing else None,
                )
            )

    def load(self) -> None:
        pass

    def _regions(self, digits: str):
        """Regions where these digits, written nationally, may be a valid number."""
        for region, valid, prefix, parsing in self.plans:
            forms = {digits}
            if prefix and digits.startswith(prefix):
                forms.add(digits[len(prefix) :])
            m = parsing.match(digits) if parsing else None
            if m:
                forms.add(digits[m.end() :])
                if m.lastindex:
                    forms.add(m.group(m.lastindex) or "")
            if any(valid.fullmatch(f) for f in forms):
                yield region

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        out = []
        for m in PHONE_RUN.finditer(text):
            start = m.start()
            while start > 0 and text[start - 1] in "(+" and m.start() - start < 2:
                start -= 1
            raw = text[start : m.end()]
            if not free_phone_text(raw) or _glued(text, start, m.end()):
                continue
            if raw.lstrip("(").startswith(("+", "00")):
                match = next(iter(PhoneNumberMatcher(raw, self.IDD_REGION, leniency=Leniency.VALID)), None)
                if match is not None:
                    out.append(
                        RecognizerResult("PHONE_NUMBER", start + match.start, start + match.end, self.SCORE)
                    )
                continue
            for region in self._regions(m.group().translate(_DIGITS_ONLY)):
                if _national_as_formatted(raw, region):
                    out.append(RecognizerResult("PHONE_NUMBER", start, m.end(), self.SCORE))
                    break
        return out


_GROUPS = re.compile(r"\d+")


def _national_as_formatted(raw: str, region: str) -> bool:
    """Whether `raw` is a valid number of `region`, its digits grouped as phonenumbers writes
    it in NATIONAL format ("0121 234 5678", "(201) 555-0123", or retyped with dots or dashes).

    PhoneNumberMatcher's EXACT_GROUPING, minus its alternate formats: 50 us a number instead
    of 60-160 us a matcher (the matchers, 2-6 regions per digit run, cost more than the
    rest of the PII scan of `bench_pii.py`'s prose)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    written = _GROUPS.findall(raw)
    groups = _GROUPS.findall(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
    # or with the national prefix joined to the first group: "0800-01-23-41" for "0 800 01 23 41"
    return written == groups or (len(groups) > 2 and written == [groups[0] + groups[1], *groups[2:]])


_NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def _valid_national_numbers(country_code: int) -> re.Pattern:
    """The national significant numbers phonenumbers calls valid under this country code: the
    union of every number type's pattern of every region sharing it (a national "(416)
    555-0123" read in region US is valid as a Canadian number)."""
    patterns = []
    for region in phonenumbers.region_codes_for_country_code(country_code):
        meta = PhoneMetadata.metadata_for_region(region)
        for kind in _NUMBER_TYPES:
            desc = getattr(meta, kind, None)
            if desc is not None and desc.national_number_pattern:
                patterns.append(desc.national_number_pattern)
    return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)")


#: str.translate table that keeps only ASCII digits.
_DIGITS_ONLY = {c: None for c in range(0x10000) if not 0x30 <= c <= 0x39}


def _glued(text: str, start: int, end: int) -> bool:
    """Part of a decimal, a time, a path or an identifier: "28:01.654504", "v2/0123 456"."""
    before = text[start - 1] if start > 0 else " "
    after = text[end : end + 2]
    return before in ".,:/_" or before.isalnum() or (after[:1] in ".,:/" and after[1:2].isdigit())


def build_recognizers(entities: list[str], phone_regions: list[str], url: str) -> dict[str, list]:
    """entity -> the Presidio recognizers that find it."""
    factories = {
        "EMAIL_ADDRESS": lambda: [OfflineEmailRecognizer()],
        "PHONE_NUMBER": lambda: [
            PhoneRecognizer(supported_regions=tuple(phone_regions)),
            PhoneContextRecognizer(),
        ],
        "CREDIT_CARD": lambda: [CardRecognizer()],
        "IBAN_CODE": lambda: [CaselessIbanRecognizer()],
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
