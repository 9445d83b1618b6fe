"""Context words that raise a weak match's score, as Presidio's context enhancer does.

Presidio compares the *lemmas* of the words before a match with each recognizer's
(English) context list. A blank spaCy pipeline has no lemmatizer, so offline Presidio
never boosts anything: a phone number stays at 0.4, under the usual 0.5 threshold. prep
looks at the surface words instead (lower-cased; an entry ending in `*` is a prefix, so
`telefon*` covers "Telefonnummer"), in every language of `languages:`, with Presidio's
factor (+0.35, at least 0.4) and window (the 5 words before the match).
"""

from __future__ import annotations

import re

#: Presidio's LemmaContextAwareEnhancer defaults.
CONTEXT_FACTOR = 0.35
MIN_SCORE_WITH_CONTEXT = 0.4
WORDS_BEFORE = 5
#: Characters searched for those words (windows keep at least this much before a candidate).
LOOKBACK = 120

#: entity -> language -> words. English lists extend Presidio's recognizer contexts.
CONTEXT_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "PHONE_NUMBER": {
        "en": ("phone*", "telephone*", "tel", "call*", "cell*", "mobile", "fax", "contact*"),
        "de": ("telefon*", "tel", "anruf*", "rufen", "ruf", "rufnummer*", "handy", "mobil*", "fax"),
        "fr": ("téléphone*", "telephone*", "tél", "tel", "appel*", "portable", "fax"),
        "es": ("teléfono*", "telefono*", "tel", "llam*", "móvil", "movil", "fax"),
        "it": ("telefono*", "tel", "chiam*", "cellulare", "fax"),
        "nl": ("telefoon*", "tel", "bel", "bellen", "belt", "mobiel*", "fax"),
        "pt": ("telefone*", "tel", "ligue", "ligar", "liga", "telemóvel", "celular", "fax"),
    },
    "US_SSN": {"en": ("social", "security", "ssn*", "ssid")},
    "CREDIT_CARD": {
        "en": ("credit", "card*", "visa", "mastercard", "cc", "amex", "discover", "jcb", "diners", "maestro"),
        "de": ("kreditkarte*", "karte*"),
        "fr": ("carte*",),
        "es": ("tarjeta*",),
        "it": ("carta*",),
        "nl": ("creditcard*", "kaart*"),
        "pt": ("cartão", "cartao"),
    },
    "IBAN_CODE": {"en": ("iban", "bank*", "account*", "transaction*")},
    "IP_ADDRESS": {"en": ("ip", "ipv4", "ipv6")},
    "MAC_ADDRESS": {"en": ("mac", "hardware", "physical", "ethernet")},
    "CRYPTO": {"en": ("wallet*", "btc", "bitcoin*", "crypto*")},
    "EMAIL_ADDRESS": {"en": ("email*", "e-mail*", "mail*")},
    "URL": {"en": ("url*", "website*", "link*")},
}

#: Words that make a weak phone match count (Presidio's "number"), but too common in technical
#: text ("the number 3232235521") to vouch for digits phonenumbers cannot validate.
NUMBER_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("number*",),
    "de": ("nummer*",),
    "fr": ("numéro*", "numero*"),
    "es": ("número*", "numero*"),
    "it": ("numero*",),
    "nl": ("nummer*",),
    "pt": ("número*", "numero*"),
}

CONTEXT_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")

_WORD = re.compile(r"\w[\w'-]*")


class ContextWords:
    """The words of the configured languages for one entity, split into exact and prefix."""

    def __init__(self, entity: str, languages: list[str], strong_only: bool = False):
        table = CONTEXT_WORDS.get(entity, {})
        langs = list(dict.fromkeys(["en", *languages]))  # Presidio's own lists are English
        words = [w for lang in langs for w in table.get(lang, ())]
        if entity == "PHONE_NUMBER" and not strong_only:
            words += [w for lang in langs for w in NUMBER_WORDS.get(lang, ())]
        self.exact = frozenset(w for w in words if not w.endswith("*"))
        self.prefixes = tuple(sorted({w[:-1] for w in words if w.endswith("*")}))

    def found_before(self, text: str, start: int, same_line: bool = False) -> bool:
        """Whether one of the WORDS_BEFORE words before `start` (on its line) is a context word."""
        lo = max(0, start - LOOKBACK)
        if same_line:
            lo = max(lo, text.rfind("\n", lo, start) + 1)
        words = _WORD.findall(text, lo, start)[-WORDS_BEFORE:]
        for word in words:
            word = word.lower()
            if word in self.exact or (self.prefixes and word.startswith(self.prefixes)):
                return True
        return False


def boosted(score: float) -> float:
    return min(1.0, max(score + CONTEXT_FACTOR, MIN_SCORE_WITH_CONTEXT))
