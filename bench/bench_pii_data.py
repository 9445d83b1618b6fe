"""A labelled PII benchmark: real prose with Faker values planted at known offsets.

Prose, all carried by installed packages (nothing downloaded): gensim's English Wikipedia
test dump (the articles prep's sample uses), the Lee news corpus and IMDB reviews of
gensim's test data, the Python language reference (`pydoc_data.topics`, technical English
full of numbers), and chatterbot-corpus dialog in German, French, Italian, Spanish, Dutch
and Portuguese. English text is used once; the dialog (160 KB in all) at most twice.

Documents are runs of that prose of a few KB. 20% of the English ones (on the web most
pages hold no PII) and half of the others (so that each language has values to measure)
get 1-3 values, each in a carrier sentence written for this benchmark (not the sample's),
in the document's language, some with a context word ("call", "Telefon", "IBAN") and some
without. Values come from Faker in eight locales, in several formats per entity (cards
grouped with spaces or dashes, IBANs printed or compact, MACs upper or lower case, IPv4
and IPv6, P2PKH and P2SH Bitcoin addresses, URLs with credentials on four schemes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pydoc_data.topics import topics

from faker import Faker

from prep.sample.multilingual import chatterbot_threads
from prep.sample.web import news_pages, review_pages
from prep.stages.pii.config import PATTERN_ENTITIES
from prep.stages.pii.replace import base58check

ENTITIES = PATTERN_ENTITIES
LOCALES = {
    "en": ("en_US", "en_GB"),
    "de": ("de_DE",),
    "fr": ("fr_FR",),
    "it": ("it_IT",),
    "es": ("es_ES",),
    "nl": ("nl_NL",),
    "pt": ("pt_PT",),
}
CHATTERBOT = {
    "german": "de",
    "french": "fr",
    "italian": "it",
    "spanish": "es",
    "dutch": "nl",
    "portuguese": "pt",
}

#: Carrier sentences per language and entity: {v} is the value.
CARRIERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "EMAIL_ADDRESS": (
            "Send your comments to {v} before Friday.",
            "Contact: {v}",
            "You can write to me at {v}.",
        ),
        "PHONE_NUMBER": (
            "Tel: {v}",
            "Call the front desk on {v} for bookings.",
            "Reach Tom on {v} after six.",
        ),
        "CREDIT_CARD": (
            "My visa {v} was charged twice.",
            "Card number: {v}",
            "She read out {v} over the phone.",
        ),
        "IBAN_CODE": (
            "Please wire the deposit to IBAN {v}.",
            "Account {v}, reference 44.",
            "Pay into {v} by June.",
        ),
        "IP_ADDRESS": ("Banned IP: {v}", "The attack came from {v} on Sunday.", "ssh admin@{v} failed."),
        "US_SSN": ("SSN {v}", "Her social security number is {v}.", "Form W-2 lists {v} for the employee."),
        "CRYPTO": ("Send BTC to {v} to unlock.", "Donations: {v}", "The wallet {v} received 2 coins."),
        "MAC_ADDRESS": (
            "MAC {v} is whitelisted.",
            "The laptop's hardware address, {v}, shows up.",
            "Device {v}",
        ),
        "URL": ("Log in at {v} to see the report.", "Backup target: {v}", "Mirror: {v}"),
    },
    "de": {
        "EMAIL_ADDRESS": ("Schreiben Sie an {v}.", "Kontakt: {v}"),
        "PHONE_NUMBER": ("Telefon: {v}", "Rufen Sie uns unter {v} an.", "Erreichbar ab 9 Uhr: {v}"),
        "CREDIT_CARD": ("Die Kreditkarte {v} wurde belastet.",),
        "IBAN_CODE": ("Bitte überweisen Sie auf IBAN {v}.", "Konto {v} bei der Sparkasse."),
        "IP_ADDRESS": ("Der Zugriff kam von {v}.",),
        "US_SSN": ("SSN {v}",),
        "CRYPTO": ("Bitcoin an {v} senden.",),
        "MAC_ADDRESS": ("Das Gerät {v} wurde gesperrt.",),
        "URL": ("Anmeldung unter {v} möglich.",),
    },
    "fr": {
        "EMAIL_ADDRESS": ("Écrivez-nous à {v}.", "Courriel : {v}"),
        "PHONE_NUMBER": ("Tél. : {v}", "Appelez le {v} pour réserver.", "Joignable au {v} le soir."),
        "CREDIT_CARD": ("La carte {v} a été débitée.",),
        "IBAN_CODE": ("Virement sur l'IBAN {v}.", "Compte {v} au Crédit Agricole."),
        "IP_ADDRESS": ("Connexion depuis {v} refusée.",),
        "US_SSN": ("SSN {v}",),
        "CRYPTO": ("Envoyez les bitcoins à {v}.",),
        "MAC_ADDRESS": ("L'adresse MAC {v} est bloquée.",),
        "URL": ("Connectez-vous sur {v} pour voir le rapport.",),
    },
    "it": {
        "EMAIL_ADDRESS": ("Scrivete a {v}.", "Email: {v}"),
        "PHONE_NUMBER": ("Tel. {v}", "Chiamate il {v} per prenotare.", "Sono raggiungibile al {v}."),
        "CREDIT_CARD": ("La carta {v} è stata addebitata.",),
        "IBAN_CODE": ("Bonifico su IBAN {v}.", "Conto {v} presso la banca."),
        "IP_ADDRESS": ("Accesso da {v} bloccato.",),
        "US_SSN": ("SSN {v}",),
        "CRYPTO": ("Inviate i bitcoin a {v}.",),
        "MAC_ADDRESS": ("Il dispositivo {v} è bloccato.",),
        "URL": ("Accedete a {v} per il resoconto.",),
    },
    "es": {
        "EMAIL_ADDRESS": ("Escríbanos a {v}.", "Correo: {v}"),
        "PHONE_NUMBER": ("Teléfono: {v}", "Llame al {v} para reservar.", "Estoy en el {v} por la tarde."),
        "CREDIT_CARD": ("La tarjeta {v} fue cargada dos veces.",),
        "IBAN_CODE": ("Transferencia a la cuenta IBAN {v}.", "Cuenta {v} en el banco."),
        "IP_ADDRESS": ("El acceso vino de {v}.",),
        "US_SSN": ("SSN {v}",),
        "CRYPTO": ("Envíe bitcoins a {v}.",),
        "MAC_ADDRESS": ("El equipo {v} fue bloqueado.",),
        "URL": ("Entre en {v} para ver el informe.",),
    },
    "nl": {
        "EMAIL_ADDRESS": ("Mail naar {v}.", "E-mail: {v}"),
        "PHONE_NUMBER": ("Tel.: {v}", "Bel ons op {v} voor een afspraak.", "Na zes uur op {v}."),
        "CREDIT_CARD": ("De creditcard {v} is belast.",),
        "IBAN_CODE": ("Maak het bedrag over op IBAN {v}.", "Rekening {v} bij de bank."),
        "IP_ADDRESS": ("De aanval kwam van {v}.",),
        "US_SSN": ("SSN {v}",),
        "CRYPTO": ("Stuur bitcoins naar {v}.",),
        "MAC_ADDRESS": ("Apparaat {v} is geblokkeerd.",),
        "URL": ("Log in op {v} voor het rapport.",),
    },
    "pt": {
        "EMAIL_ADDRESS": ("Escreva para {v}.", "Email: {v}"),
        "PHONE_NUMBER": ("Telefone: {v}", "Ligue para {v} para marcar.", "Estou no {v} à tarde."),
        "CREDIT_CARD": ("O cartão {v} foi debitado.",),
        "IBAN_CODE": ("Transferência para o IBAN {v}.", "Conta {v} no banco."),
        "IP_ADDRESS": ("O acesso veio de {v}.",),
        "US_SSN": ("SSN {v}",),
        "CRYPTO": ("Envie bitcoins para {v}.",),
        "MAC_ADDRESS": ("O equipamento {v} foi bloqueado.",),
        "URL": ("Entre em {v} para ver o relatório.",),
    },
}


@dataclass
class Planted:
    entity: str
    value: str
    start: int
    locale: str

    @property
    def end(self) -> int:
        return self.start + len(self.value)


@dataclass
class BenchDoc:
    id: str
    lang: str
    text: str
    planted: list[Planted] = field(default_factory=list)


def _base58check(version: int, rng: random.Random) -> str:
    return base58check(bytes([version]) + bytes(rng.getrandbits(8) for _ in range(20)))


def _grouped(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(digits[pos : pos + size])
        pos += size
    if pos < len(digits):
        out.append(digits[pos:])
    return sep.join(p for p in out if p)


def value(entity: str, fake: Faker, rng: random.Random) -> str:
    """One Faker value of `entity`, in one of the formats people write it in."""
    if entity == "EMAIL_ADDRESS":
        return rng.choice([fake.free_email, fake.company_email])()
    if entity == "PHONE_NUMBER":
        return fake.phone_number()
    if entity == "CREDIT_CARD":
        kind = rng.choice(["visa16", "visa13", "mastercard", "amex", "discover", "jcb16", "diners"])
        number = fake.credit_card_number(card_type=kind)
        sep = rng.choice(["", " ", "-"])
        sizes = (4, 6, 5) if kind == "amex" else (4, 6, 4) if kind == "diners" else (4, 4, 4, 4)
        return _grouped(number, sizes, sep) if sep else number
    if entity == "IBAN_CODE":
        iban = fake.iban()
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban
    if entity == "IP_ADDRESS":
        return fake.ipv4_public() if rng.random() < 0.6 else fake.ipv6()
    if entity == "US_SSN":
        ssn = fake.ssn()  # an en_US Faker: the planting picks that locale for SSNs
        return ssn.replace("-", " ") if rng.random() < 0.2 else ssn
    if entity == "CRYPTO":
        return _base58check(0 if rng.random() < 0.7 else 5, rng)
    if entity == "MAC_ADDRESS":
        mac = fake.mac_address()
        if rng.random() < 0.3:
            mac = mac.upper()
        return mac.replace(":", "-") if rng.random() < 0.3 else mac
    if entity == "URL":
        scheme = rng.choice(["https", "http", "ftp", "postgres"])
        password = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(rng.randint(6, 14)))
        return f"{scheme}://{fake.user_name()}:{password}@{fake.domain_name()}/{fake.uri_path()}"
    raise ValueError(entity)


def prose() -> dict[str, list[list[str]]]:
    """language -> units of real text (lists of paragraphs), in a fixed order."""
    from prep.sample.wiki import wiki_docs

    units: dict[str, list[list[str]]] = {}
    english = [d.text for d in wiki_docs() if d.lang == "en"]
    english += [page.text for page in [*news_pages(), *review_pages()]]
    english += list(topics.values())
    units["en"] = []
    for text in english:  # runs of paragraphs of ~1,500 characters: documents of a few KB
        run: list[str] = []
        for para in (p for p in text.split("\n\n") if p.strip()):
            run.append(para)
            if sum(len(p) for p in run) >= 1500:
                units["en"].append(run)
                run = []
        if run:
            units["en"].append(run)
    for folder, lang in CHATTERBOT.items():
        units[lang] = [[" ".join(thread)] for thread in chatterbot_threads(folder)]
    return units


def build(
    seed: int = 0, max_bytes: int | None = None, pii_fraction: float = 0.2, doc_chars: int = 4000
) -> list[BenchDoc]:
    """Benchmark documents, each a run of prose units of one language, ~`doc_chars` long
    (English units once, the other languages' twice), `max_bytes` of text at most. English
    documents get PII with probability `pii_fraction`, the others (8% of the text) with 0.5,
    so that each language has enough planted values to measure."""
    rng = random.Random(seed)
    by_lang = prose()
    for lang, units in by_lang.items():
        rng.shuffle(units)
        if lang != "en":
            by_lang[lang] = units + units
    fakers = {loc: Faker(loc) for locs in LOCALES.values() for loc in locs}
    for i, fake in enumerate(fakers.values()):
        fake.seed_instance(seed * 1000 + i)
    docs: list[BenchDoc] = []
    size = 0
    while any(by_lang.values()) and (max_bytes is None or size < max_bytes):
        left = {lang: sum(len(p) for u in units for p in u) for lang, units in by_lang.items() if units}
        lang = rng.choices(list(left), list(left.values()))[0]
        paras: list[str] = []
        goal = doc_chars * rng.uniform(0.3, 1.7)
        while by_lang[lang] and sum(len(p) for p in paras) < goal:
            paras.extend(by_lang[lang].pop())
        fraction = pii_fraction if lang == "en" else 0.5
        doc = _plant(BenchDoc(f"bench/{len(docs)}", lang, ""), paras, rng, fakers, fraction)
        docs.append(doc)
        size += len(doc.text.encode())
    return docs


def _plant(
    doc: BenchDoc, paras: list[str], rng: random.Random, fakers: dict, pii_fraction: float
) -> BenchDoc:
    """Join the paragraphs; in `pii_fraction` of documents, end 1-3 of them with a carrier."""
    plants = rng.randint(1, 3) if rng.random() < pii_fraction else 0
    slots = set(rng.sample(range(len(paras)), min(plants, len(paras))))
    parts: list[str] = []
    pos = 0
    for k, para in enumerate(paras):
        if k:
            parts.append("\n\n")
            pos += 2
        parts.append(para)
        pos += len(para)
        if k in slots:
            entity = rng.choice(ENTITIES)
            # cards and SSNs are one format everywhere (and not every Faker locale has all card types)
            locale = "en_US" if entity in ("US_SSN", "CREDIT_CARD") else rng.choice(LOCALES[doc.lang])
            v = value(entity, fakers[locale], rng)
            carrier = rng.choice(CARRIERS[doc.lang][entity])
            sentence = " " + carrier.format(v=v)
            doc.planted.append(Planted(entity, v, pos + 1 + carrier.index("{v}"), locale))
            parts.append(sentence)
            pos += len(sentence)
    doc.text = "".join(parts)
    for p in doc.planted:
        assert doc.text[p.start : p.end] == p.value
    return doc
