"""Planted PII: Faker values in several locales, put into real prose inside carrier sentences.

Entity names follow Presidio's (EMAIL_ADDRESS, PHONE_NUMBER, ...), so the PII stage's tests can
compare what it finds with this list directly. Each value sits in a carrier sentence that occurs
once in its document; the character offset is computed after all planting (`finalize`), in the
text the reader will return. Web pages are HTML, so their records give the value without offset.
A few allow-list candidates (example.com addresses, 8.8.8.8, 127.0.0.1) are planted too, flagged.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from faker import Faker

from prep.sample.model import Doc, derive_rng

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def bitcoin_address(rng: random.Random) -> str:
    """A well-formed P2PKH Bitcoin address (Base58Check, valid checksum) for random key bytes."""
    payload = b"\x00" + bytes(rng.getrandbits(8) for _ in range(20))
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    data = payload + check
    num = int.from_bytes(data, "big")
    out = ""
    while num:
        num, rem = divmod(num, 58)
        out = _B58[rem] + out
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + out


#: Carrier sentences per language; `{v}` is the value.
TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "EMAIL_ADDRESS": "Readers can reach the author at {v} with questions about this story.",
        "PHONE_NUMBER": "For more information, call {v} during office hours.",
        "CREDIT_CARD": "The order was paid with the card number {v}, according to the receipt.",
        "IBAN_CODE": "Donations can be transferred to the account {v} until the end of the month.",
        "IP_ADDRESS": "The request came from the address {v}, the server log shows.",
        "US_SSN": "His social security number, {v}, was printed on the form by mistake.",
        "CRYPTO": "The ransom note asked for payment to the bitcoin wallet {v} within two days.",
        "MAC_ADDRESS": "The device with the hardware address {v} was blocked by the network.",
        "URL": "Staff could open the internal dashboard at {v} without a second login.",
        "PERSON": "The account was opened by {v} the following spring.",
    },
    "de": {
        "EMAIL_ADDRESS": "Fragen beantwortet die Redaktion unter {v} gern.",
        "PHONE_NUMBER": "Weitere Auskünfte gibt es unter der Telefonnummer {v}.",
        "IBAN_CODE": "Spenden bitte auf das Konto {v} überweisen.",
        "PERSON": "Das Treffen wurde von {v} organisiert.",
    },
    "fr": {
        "EMAIL_ADDRESS": "Pour toute question, écrivez à {v}.",
        "PHONE_NUMBER": "Pour plus d'informations, appelez le {v}.",
        "IBAN_CODE": "Les dons peuvent être versés sur le compte {v}.",
        "PERSON": "La réunion a été organisée par {v}.",
    },
    "it": {
        "EMAIL_ADDRESS": "Per domande scrivete a {v}.",
        "PHONE_NUMBER": "Per informazioni chiamate il numero {v}.",
        "IBAN_CODE": "Le donazioni possono essere versate sul conto {v}.",
        "PERSON": "L'incontro è stato organizzato da {v}.",
    },
    "es": {
        "EMAIL_ADDRESS": "Para cualquier consulta, escriba a {v}.",
        "PHONE_NUMBER": "Para más información llame al {v}.",
        "IBAN_CODE": "Las donaciones pueden enviarse a la cuenta {v}.",
        "PERSON": "La reunión fue organizada por {v}.",
    },
    "nl": {
        "EMAIL_ADDRESS": "Vragen kunt u sturen naar {v}.",
        "PHONE_NUMBER": "Bel voor meer informatie naar {v}.",
        "IBAN_CODE": "Giften kunt u overmaken op rekening {v}.",
        "PERSON": "De bijeenkomst werd georganiseerd door {v}.",
    },
    "pt": {
        "EMAIL_ADDRESS": "Dúvidas podem ser enviadas para {v}.",
        "PHONE_NUMBER": "Para mais informações ligue para {v}.",
        "IBAN_CODE": "As doações podem ser feitas para a conta {v}.",
        "PERSON": "O encontro foi organizado por {v}.",
    },
}

LOCALES = {
    "en": "en_US",
    "de": "de_DE",
    "fr": "fr_FR",
    "it": "it_IT",
    "es": "es_ES",
    "nl": "nl_NL",
    "pt": "pt_PT",
}


@dataclass(eq=False)
class PiiItem:
    doc: Doc
    entity: str
    value: str
    locale: str
    carrier: str
    allowlist: bool = False
    offset: int | None = None

    def record(self) -> dict:
        out = {
            "id": self.doc.id,
            "entity": self.entity,
            "value": self.value,
            "locale": self.locale,
            "offset": self.offset,
            "length": len(self.value),
        }
        if self.allowlist:
            out["allowlist_candidate"] = True
        return out


class ValueMaker:
    """Faker values per entity and locale, from one seeded Faker per locale."""

    def __init__(self, seed: int) -> None:
        self.rng = derive_rng(seed, "pii-values")
        self.fakers: dict[str, Faker] = {}
        self.seed = seed

    def faker(self, locale: str) -> Faker:
        if locale not in self.fakers:
            fake = Faker(locale)
            fake.seed_instance(int(derive_rng(self.seed, "pii", locale).random() * 2**31))
            self.fakers[locale] = fake
        return self.fakers[locale]

    def value(self, entity: str, locale: str) -> str:
        fake = self.faker(locale)
        rng = self.rng
        if entity == "EMAIL_ADDRESS":
            return fake.free_email()
        if entity == "PHONE_NUMBER":
            return fake.phone_number()
        if entity == "CREDIT_CARD":
            return self.faker("en_US").credit_card_number(
                card_type=rng.choice(["visa16", "mastercard", "amex", "discover"])
            )
        if entity == "IBAN_CODE":
            return fake.iban()
        if entity == "IP_ADDRESS":
            return fake.ipv4_public() if rng.random() < 0.6 else fake.ipv6()
        if entity == "US_SSN":
            return self.faker("en_US").ssn()
        if entity == "CRYPTO":
            return bitcoin_address(rng)
        if entity == "MAC_ADDRESS":
            return fake.mac_address()
        if entity == "URL":
            user = fake.user_name()
            password = "".join(rng.choice("abcdefghkmnpqrstuvwxyz23456789") for _ in range(10))
            return f"https://{user}:{password}@{fake.domain_name()}/admin/{fake.slug()}"
        if entity == "PERSON":
            return fake.name()
        raise ValueError(entity)


ALLOWLIST = (
    ("EMAIL_ADDRESS", "info@example.com"),
    ("EMAIL_ADDRESS", "jane.doe@example.org"),
    ("IP_ADDRESS", "8.8.8.8"),
    ("IP_ADDRESS", "127.0.0.1"),
    ("URL", "https://www.example.com/"),
)


def _insert(doc: Doc, sentence: str, rng: random.Random) -> None:
    """Put a sentence at the end of a random paragraph of the document."""
    paras = doc.text.split("\n\n")
    i = rng.randrange(len(paras))
    paras[i] = (paras[i] + " " + sentence) if paras[i].strip() else sentence
    doc.text = "\n\n".join(paras)


def plant(docs: list[Doc], seed: int, per_doc: tuple[int, int] = (1, 3)) -> list[PiiItem]:
    """Plant 1-3 values into each document (in its language where there are templates)."""
    maker = ValueMaker(seed)
    rng = derive_rng(seed, "pii-plant")
    items: list[PiiItem] = []
    counter = 0
    for doc in docs:
        lang = doc.lang if doc.lang in TEMPLATES else "en"
        templates = TEMPLATES[lang]
        entities = list(templates)
        for _ in range(rng.randint(*per_doc)):
            entity = entities[counter % len(entities)] if lang == "en" else rng.choice(entities)
            counter += 1
            locale = LOCALES[lang] if lang != "en" else rng.choice(list(LOCALES.values()))
            if entity in ("US_SSN",):
                locale = "en_US"
            if entity == "IBAN_CODE" and lang == "en":
                locale = rng.choice(["de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "en_GB"])
            value = maker.value(entity, locale)
            carrier = templates[entity].format(v=value)
            _insert(doc, carrier, rng)
            items.append(PiiItem(doc, entity, value, locale, carrier))
        doc.planted = True
    return items


def plant_allowlist(docs: list[Doc], seed: int) -> list[PiiItem]:
    """The allow-list candidates, one per document, in English carrier sentences."""
    rng = derive_rng(seed, "pii-allowlist")
    items = []
    for doc, (entity, value) in zip(docs, ALLOWLIST, strict=False):
        carrier = TEMPLATES["en"][entity].format(v=value)
        _insert(doc, carrier, rng)
        items.append(PiiItem(doc, entity, value, "-", carrier, allowlist=True))
        doc.planted = True
    return items


def finalize(items: list[PiiItem]) -> None:
    """Set character offsets in the final texts (web pages keep None: their text is HTML)."""
    for item in items:
        if item.doc.source == "web":
            continue
        start = item.doc.text.find(item.carrier)
        if start < 0 or item.doc.text.count(item.carrier) != 1:
            raise RuntimeError(f"planted PII carrier lost or repeated in {item.doc.id}")
        item.offset = start + item.carrier.index(item.value)
