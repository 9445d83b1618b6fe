"""An external PII evaluation set: values in formats that other people designed.

prep's own benchmark (`bench_pii_data.py`) plants values in formats its authors chose, and
prep's recognizers were tuned on it. This set takes its values from sources nobody here
wrote, so that recall measured on it says how prep does on data it was not tuned for
(issue #14, item 3):

- phone numbers: phonenumbers' example numbers (`example_number_for_type`) for every
  supported region (fixed line, mobile, toll free; the last digits redrawn until
  phonenumbers still calls the number valid, so each item is a different number), written
  the ways people write them: E.164, INTERNATIONAL and NATIONAL as phonenumbers formats
  them, "00" for "+", and NATIONAL/INTERNATIONAL with dots, dashes, no separators or the
  area code in parentheses; plus Faker's `phone_number()` in every Faker locale that has
  one. Faker's formats include some no numbering plan accepts; they count all the same
  (people write them);
- card numbers: Faker's `credit_card_number(card_type)` for every card type of every
  Faker locale, and numbers drawn over the card networks' published IIN ranges and
  lengths (Visa 13/16/19, Mastercard 51-55 and 2221-2720, Amex 34/37, Discover 6011/644-649/65,
  JCB 3528-3589 16-19, Diners 300-305/36/38 14, UnionPay 62 16-19, Maestro 12-19,
  Mir 2200-2204 16) with a valid Luhn digit, compact, in groups of four, or in the
  network's grouping (Amex 4-6-5, Diners 4-6-4), with spaces or dashes;
- IBANs: Faker's `iban()` in every locale with its own bank provider, compact or in groups
  of four, upper or lower case; only those of the SWIFT IBAN registry's countries and
  lengths, as Presidio's `iban_patterns` lists them (Faker also makes IBAN-shaped numbers
  for Bangladesh, which has none, and 21-character GB ones in en_IN);
- e-mails (`email`, `free_email`, `company_email` in every locale, ASCII only), IPv4/IPv6
  (`ipv4_public`, `ipv6`), US SSNs (`ssn` en_US, with dashes or spaces), MACs
  (`mac_address`: colons, dashes, Cisco dots, upper or lower case), Bitcoin addresses
  (Base58Check P2PKH/P2SH over random payloads), URLs with credentials (Faker's
  `url`/`user_name`/`password`).

Carriers are sentences (with a context word such as "phone", "Tel.", "Telefon", "téléphone",
"llame", "carta", "IBAN", and without one) and contact blocks (Name / Tel / Fax / E-mail
lines) in English, German, French, Spanish, Italian, Dutch and Portuguese. Clean documents
hold number-like values that are not PII (dates in Faker's formats, prices, order and
invoice numbers, ISBNs, EAN-13s, versions, times, postcodes, coordinates, counts): every
detection in them is a false replacement.

Two splits keep the set out of the code's tuning loop:
- DEV (seed 1): a third of the phone regions and Faker locales (by a hash of the name)
  and the DEV carrier templates. Look at it while improving the code.
- TEST (seed 2): every region and locale, and held-out carrier templates (different
  sentences, different contact-block labels). Evaluate it only at the end and report it;
  changing the code after reading its failures would make it a second DEV set.
"""

from __future__ import annotations

import datetime
import random
import re
import zlib
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker
from faker.config import AVAILABLE_LOCALES
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from prep.stages.pii.config import PATTERN_ENTITIES
from prep.stages.pii.replace import base58check

SPLITS = ("dev", "test")
#: Faker's dates run up to now unless told otherwise: a fixed end keeps the splits the same every day.
END = datetime.datetime(2026, 1, 1)
SEEDS = {"dev": 1, "test": 2}
#: The pattern entities of prep's PII stage: what the set plants values of.
ENTITIES = PATTERN_ENTITIES
PHONE_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)


def in_dev(name: str) -> bool:
    """A third of the regions and locales, fixed by the name alone."""
    return zlib.crc32(name.encode()) % 3 == 0


# Carrier templates: {v} is the value. "ctx": a context word in the 5 words before the value;
# "plain": none. Contact blocks are built from labels. DEV and TEST templates are disjoint.
TEMPLATES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "dev": {
        "PHONE_NUMBER": {
            "ctx": (
                "For bookings call {v} between 9 and 5.",
                "My phone number is {v}, text me anytime.",
                "Telefon: {v}",
                "Bitte rufen Sie mich unter {v} zurück.",
                "Appelez-moi au {v} demain.",
                "Llame al {v} para más información.",
                "Tel. {v}",
                "Chiamami al numero {v} stasera.",
            ),
            "plain": (
                "Reach the office on {v} after lunch.",
                "The hotline {v} is open all week.",
                "Our Lisbon desk: {v}.",
                "Neue Durchwahl ab Montag {v}.",
                "Je suis joignable au {v} le soir.",
                "Estoy en el {v} por las tardes.",
            ),
        },
        "CREDIT_CARD": {
            "ctx": ("Charge it to my card {v}, please.", "Kreditkarte {v} wurde belastet.", "Visa: {v}"),
            "plain": (
                "The number {v} was declined at checkout.",
                "I typed {v} and it worked.",
                "{v} exp 04/29",
            ),
        },
        "IBAN_CODE": {
            "ctx": ("Please wire the deposit to IBAN {v}.", "Bankverbindung: {v}", "Compte bancaire {v}."),
            "plain": ("Send the rent to {v} by Friday.", "Use {v} for the refund."),
        },
        "EMAIL_ADDRESS": {
            "ctx": ("Email me at {v}.", "Correo: {v}"),
            "plain": ("Questions go to {v} until June.", "cc {v} on the thread"),
        },
        "IP_ADDRESS": {"ctx": ("Blocked IP {v} again.",), "plain": ("Requests from {v} timed out.",)},
        "US_SSN": {"ctx": ("SSN: {v}",), "plain": ("The W-2 shows {v} for her.",)},
        "CRYPTO": {"ctx": ("Send BTC to {v}.",), "plain": ("Tips welcome: {v}",)},
        "MAC_ADDRESS": {"ctx": ("MAC address {v} is allowed.",), "plain": ("Device {v} went offline.",)},
        "URL": {"ctx": ("Link: {v}",), "plain": ("The backup goes to {v} nightly.",)},
    },
    "test": {
        "PHONE_NUMBER": {
            "ctx": (
                "You can phone me on {v} any evening.",
                "Questions? Call us at {v}.",
                "Tel.: {v}",
                "Unsere Telefonnummer lautet {v}.",
                "Téléphone : {v}",
                "Teléfono de contacto: {v}",
                "Bel ons gerust op {v}.",
                "Ligue para {v} se precisar.",
                "Mobile {v}",
            ),
            "plain": (
                "Ask for Maria at {v} tomorrow.",
                "Leave a message at {v} and we will get back to you.",
                "Reception {v} (weekdays).",
                "Für Rückfragen: {v}",
                "Renseignements au {v}.",
                "Contatti: {v}",
            ),
        },
        "CREDIT_CARD": {
            "ctx": ("Payment by credit card {v} failed.", "Mi tarjeta es la {v}.", "Card no. {v}"),
            "plain": ("She paid with {v} yesterday.", "Refund {v} in full.", "Number on file: {v}"),
        },
        "IBAN_CODE": {
            "ctx": ("IBAN: {v}", "Bonifico sull'IBAN {v} entro lunedì.", "My bank account is {v}."),
            "plain": ("Transfer the balance to {v} today.", "Rekening {v} t.n.v. de vereniging."),
        },
        "EMAIL_ADDRESS": {
            "ctx": ("E-Mail: {v}", "Write to my mail {v} please."),
            "plain": ("Forward the invoice to {v}.", "Reply to {v} with the form."),
        },
        "IP_ADDRESS": {"ctx": ("Server IP: {v}",), "plain": ("The login came from {v} at night.",)},
        "US_SSN": {
            "ctx": ("Social security number {v}.",),
            "plain": ("Employee {v} filed late.",),
        },
        "CRYPTO": {"ctx": ("Bitcoin wallet {v}",), "plain": ("Pay to {v} before noon.",)},
        "MAC_ADDRESS": {"ctx": ("Ethernet MAC {v}",), "plain": ("The router {v} rebooted.",)},
        "URL": {"ctx": ("Website: {v}",), "plain": ("Clone it from {v} tonight.",)},
    },
}

#: Contact blocks: name line, phone label, fax label, e-mail label (per split, per language).
BLOCK_LABELS = {
    "dev": (
        ("Name", "Tel", "Fax", "E-mail"),
        ("Ansprechpartner", "Tel.", "Fax", "E-Mail"),
        ("Contact", "Tél.", "Fax", "Courriel"),
        ("Nombre", "Tel.", "Fax", "Correo"),
    ),
    "test": (
        ("Contact person", "Phone", "Fax", "Email"),
        ("Name", "Telefon", "Telefax", "Mail"),
        ("Nom", "Téléphone", "Télécopie", "Email"),
        ("Referente", "Telefono", "Fax", "Email"),
        ("Naam", "Telefoon", "Fax", "E-mail"),
        ("Contacto", "Telemóvel", "Fax", "Email"),
    ),
}

#: Clean sentences: {v} is a number-like value that is not PII.
CLEAN_TEMPLATES = {
    "dev": (
        "The meeting moved to {v}.",
        "Order {v} shipped today.",
        "ISBN {v}",
        "Version {v} fixes the crash.",
        "Total: {v}",
        "Deadline {v}, no extensions.",
    ),
    "test": (
        "Invoice no. {v} is overdue.",
        "Published as {v} in the catalogue.",
        "It happened on {v} at the station.",
        "We counted {v} visitors.",
        "Reference {v}",
        "Build {v} passed.",
    ),
}


@dataclass
class Span:
    entity: str
    start: int
    end: int
    source: str  # where the value came from ("phonenumbers:NG:MOBILE:NATIONAL", "faker:de_DE", ...)
    carrier: str  # ctx, plain or block


@dataclass
class Doc:
    id: str
    text: str
    spans: list[Span] = field(default_factory=list)
    clean: str | None = None  # the kind of non-PII value of a clean document


def luhn_complete(prefix_and_body: str) -> str:
    """The digits with a Luhn check digit appended."""
    total = 0
    for i, c in enumerate(reversed(prefix_and_body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return prefix_and_body + str((10 - total % 10) % 10)


#: (network, IIN prefixes or inclusive ranges, lengths), from the networks' published ranges.
CARD_NETWORKS: tuple[tuple[str, tuple, tuple[int, ...]], ...] = (
    ("visa", ("4",), (13, 16, 19)),
    ("mastercard", ((51, 55), (2221, 2720)), (16,)),
    ("amex", ("34", "37"), (15,)),
    ("discover", ("6011", (644, 649), "65"), (16, 19)),
    ("jcb", ((3528, 3589),), (16, 17, 18, 19)),
    ("diners", ((300, 305), "36", "38"), (14,)),
    ("unionpay", ("62",), (16, 17, 18, 19)),
    (
        "maestro",
        ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"),
        (12, 13, 15, 16, 19),
    ),
    ("mir", ((2200, 2204),), (16,)),
)


def network_card(rng: random.Random, network: str) -> str:
    _, prefixes, lengths = next(n for n in CARD_NETWORKS if n[0] == network)
    p = rng.choice(prefixes)
    prefix = str(rng.randint(*p)) if isinstance(p, tuple) else p
    length = rng.choice(lengths)
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return luhn_complete(body)


def group(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        if pos >= len(digits):
            break
        out.append(digits[pos : pos + size])
        pos += size
    if pos < len(digits):
        out.append(digits[pos:])
    return sep.join(out)


def card_format(number: str, network: str, rng: random.Random) -> str:
    style = rng.choice(["compact", "fours", "fours", "network"])
    sep = rng.choice([" ", "-"])
    if style == "compact":
        return number
    if style == "network" and network == "amex" and len(number) == 15:
        return group(number, (4, 6, 5), sep)
    if style == "network" and network == "diners" and len(number) == 14:
        return group(number, (4, 6, 4), sep)
    return group(number, (4,) * 5, sep)


def _valid_variant(number, rng: random.Random):
    """The example number with its last digits redrawn, still valid for phonenumbers."""
    national = str(number.national_number)
    for _ in range(20):
        k = min(3, len(national) - 2)
        tail = "".join(str(rng.randrange(10)) for _ in range(k))
        candidate = phonenumbers.PhoneNumber(
            country_code=number.country_code,
            national_number=int(national[:-k] + tail),
            italian_leading_zero=number.italian_leading_zero,
            number_of_leading_zeros=number.number_of_leading_zeros,
        )
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return number


def phone_formats(number, rng: random.Random) -> list[tuple[str, str]]:
    """(format name, text) pairs: phonenumbers' formats and the ways people retype them."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    out = [("E164", e164), ("INTERNATIONAL", intl), ("NATIONAL", national), ("00", "00" + intl[1:])]
    digits = [c for c in national if c.isdigit()]
    if len(digits) >= 6:
        out.append(("NATIONAL-compact", "".join(digits)))
    for sep, name in ((".", "dots"), ("-", "dashes")):
        retyped = " ".join(national.replace("(", "").replace(")", "").split()).replace(" ", sep)
        retyped = retyped.replace("-", sep)
        out.append((f"NATIONAL-{name}", retyped))
    parts = intl.replace("-", " ").split()
    if len(parts) >= 3:
        out.append(("INTERNATIONAL-parens", f"{parts[0]} ({parts[1]}) {' '.join(parts[2:])}"))
        out.append(("INTERNATIONAL-dashes", f"{parts[0]}-{'-'.join(parts[1:])}"))
    return out


def phone_values(split: str, rng: random.Random) -> list[tuple[str, str]]:
    """(value, source) of every phone number the split uses."""
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    if split == "dev":
        regions = [r for r in regions if in_dev(r)]
    out = []
    for region in regions:
        for t in PHONE_TYPES:
            example = phonenumbers.example_number_for_type(region, t)
            if example is None:
                continue
            formats = phone_formats(_valid_variant(example, rng), rng)
            for name, text in rng.sample(formats, min(2, len(formats))):
                tname = {0: "FIXED_LINE", 1: "MOBILE", 3: "TOLL_FREE"}[t]
                out.append((text, f"phonenumbers:{region}:{tname}:{name}"))
    for locale, fake in fakers(split):
        try:
            for _ in range(2):
                number = fake.phone_number()
                if any(c.isdigit() and not c.isascii() for c in number):
                    continue  # Bengali digits etc.: no recognizer reads them
                out.append((number, f"faker:{locale}"))
        except AttributeError:
            continue
    return out


_FAKERS: dict[str, list] = {}


def fakers(split: str) -> list[tuple[str, Faker]]:
    if split not in _FAKERS:
        locales = [loc for loc in AVAILABLE_LOCALES if split == "test" or in_dev(loc)]
        out = []
        for i, loc in enumerate(locales):
            fake = Faker(loc)
            fake.seed_instance(SEEDS[split] * 10_000 + i)
            out.append((loc, fake))
        _FAKERS[split] = out
    return _FAKERS[split]


def card_values(split: str, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    seen_types = set()
    for locale, fake in fakers(split):
        provider = fake.provider("faker.providers.credit_card")
        for card_type in provider.credit_card_types:
            key = (type(provider).__module__, card_type)
            if key in seen_types:
                continue
            seen_types.add(key)
            number = fake.credit_card_number(card_type=card_type)
            out.append((card_format(number, card_type, rng), f"faker:{locale}:{card_type}"))
    for network, _, _ in CARD_NETWORKS:
        for _ in range(8 if split == "test" else 4):
            number = network_card(rng, network)
            out.append((card_format(number, network, rng), f"network:{network}:{len(number)}"))
    return out


def iban_values(split: str, rng: random.Random) -> list[tuple[str, str]]:
    from presidio_analyzer.predefined_recognizers.generic.iban_patterns import regex_per_country

    out = []
    for locale, fake in fakers(split):
        provider = fake.provider("faker.providers.bank")
        module = type(provider).__module__.rsplit(".", 1)[-1]
        if module != locale or not hasattr(fake, "iban"):
            continue  # the default (GB) provider: counted once, as en_GB
        for _ in range(2):
            iban = fake.iban()
            if iban[:2] not in regex_per_country or not re.fullmatch(regex_per_country[iban[:2]], iban):
                continue  # not an IBAN country, or Faker's length is wrong (en_IN's 21-character GB ones)
            form = rng.choice(["compact", "spaced", "lower-spaced", "lower"])
            if "spaced" in form:
                iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            if "lower" in form:
                iban = iban.lower()
            out.append((iban, f"faker:{locale}:{form}"))
    return out


def other_values(entity: str, split: str, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    pool = fakers(split)
    en_us = Faker("en_US")
    en_us.seed_instance(SEEDS[split])
    n = 60 if split == "test" else 30
    for _ in range(n):
        locale, fake = rng.choice(pool)
        if entity == "EMAIL_ADDRESS":
            kind = rng.choice(["email", "free_email", "company_email"])
            v = fake.email(safe=False) if kind == "email" else getattr(fake, kind)()
            if not v.isascii():
                continue
        elif entity == "IP_ADDRESS":
            v, locale = (en_us.ipv4_public(), "ipv4") if rng.random() < 0.6 else (en_us.ipv6(), "ipv6")
        elif entity == "US_SSN":
            v, locale = en_us.ssn(), "en_US"
            if rng.random() < 0.3:
                v, locale = v.replace("-", " "), "en_US:spaces"
        elif entity == "MAC_ADDRESS":
            v = en_us.mac_address()
            form = rng.choice(["colons", "upper", "dashes", "cisco"])
            if form == "upper":
                v = v.upper()
            elif form == "dashes":
                v = v.replace(":", "-").upper()
            elif form == "cisco":
                h = v.replace(":", "")
                v = ".".join(h[i : i + 4] for i in range(0, 12, 4))
            locale = form
        elif entity == "CRYPTO":
            version = 0 if rng.random() < 0.6 else 5
            v = base58check(bytes([version]) + bytes(rng.getrandbits(8) for _ in range(20)))
            locale = "p2pkh" if version == 0 else "p2sh"
        elif entity == "URL":
            url = en_us.url(schemes=[rng.choice(["https", "http", "ftp"])])
            scheme, rest = url.split("://", 1)
            password = en_us.password(length=rng.randint(8, 14), special_chars=False)
            v, locale = f"{scheme}://{en_us.user_name()}:{password}@{rest}{en_us.uri_path()}", scheme
        else:
            raise ValueError(entity)
        out.append((v, f"faker:{locale}"))
    return out


def clean_values(split: str, rng: random.Random) -> list[tuple[str, str]]:
    """Number-like values that are not PII, from Faker's providers."""
    out = []
    pool = fakers(split)
    n = 40 if split == "test" else 20
    for _ in range(n):
        _, fake = rng.choice(pool)
        d = fake.date_object(end_datetime=END)
        kinds = {
            "date": fake.date(end_datetime=END),
            "date-dmy": d.strftime("%d/%m/%Y"),
            "date-dots": d.strftime("%d.%m.%Y"),
            "date-long": d.strftime("%d %B %Y"),
            "datetime": fake.iso8601(end_datetime=END),
            "time": fake.time(end_datetime=END),
            "price": fake.pricetag(),
            "order": str(fake.random_number(digits=rng.randint(7, 12), fix_len=True)),
            "order-dashed": "-".join(str(fake.random_number(k, True)) for k in (3, 7, 7)),
            "isbn13": fake.isbn13(),
            "isbn10": fake.isbn10(),
            "ean13": fake.ean13(),
            "ean8": fake.ean8(),
            "version": f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 300)}",
            "postcode": fake.postcode() if hasattr(fake, "postcode") else fake.zipcode(),
            "coordinates": f"{fake.latitude()}, {fake.longitude()}",
            "count": f"{rng.randint(1_000_000, 999_999_999):,}",
            "year-range": f"{rng.randint(1800, 2000)}-{rng.randint(2001, 2030)}",
            "decimal": f"{rng.uniform(0, 100000):.6f}",
            "sbn": fake.sbn9() if hasattr(fake, "sbn9") else fake.isbn10(),
        }
        for kind, v in kinds.items():
            out.append((str(v), kind))
    return out


def build(split: str) -> list[Doc]:
    """The split's documents: one carrier sentence or contact block each, or a clean sentence."""
    if split not in SPLITS:
        raise ValueError(split)
    rng = random.Random(SEEDS[split])
    templates = TEMPLATES[split]
    docs: list[Doc] = []

    def add(entity: str, value: str, source: str, kind: str | None = None) -> None:
        kind = kind or rng.choice(["ctx", "plain"])
        template = rng.choice(templates[entity][kind])
        start = template.index("{v}")
        text = template.replace("{v}", value)
        docs.append(
            Doc(f"{split}/{len(docs)}", text, [Span(entity, start, start + len(value), source, kind)])
        )

    phones = phone_values(split, rng)
    for value, source in phones:
        r = rng.random()
        if r < 0.2:
            docs.append(_block(split, len(docs), value, source, rng))
        else:
            add("PHONE_NUMBER", value, source, "ctx" if r < 0.6 else "plain")
    for value, source in card_values(split, rng):
        add("CREDIT_CARD", value, source)
    for value, source in iban_values(split, rng):
        add("IBAN_CODE", value, source)
    for entity in ("EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN", "MAC_ADDRESS", "CRYPTO", "URL"):
        for value, source in other_values(entity, split, rng):
            add(entity, value, source)
    for value, kind in clean_values(split, rng):
        text = rng.choice(CLEAN_TEMPLATES[split]).replace("{v}", value)
        docs.append(Doc(f"{split}/{len(docs)}", text, [], clean=kind))
    for doc in docs:
        for s in doc.spans:
            assert doc.text[s.start : s.end].strip() == doc.text[s.start : s.end], (doc.text, s)
    rng.shuffle(docs)
    return docs


def _block(split: str, n: int, phone: str, source: str, rng: random.Random) -> Doc:
    """A contact block: a name, the phone number, sometimes a fax, an e-mail (Faker's)."""
    locale, fake = rng.choice(fakers(split))
    name_label, tel_label, fax_label, mail_label = rng.choice(BLOCK_LABELS[split])
    lines = [f"{name_label}: {fake.name()}"]
    spans = []
    pos = len(lines[0]) + 1
    line = f"{tel_label}: "
    spans.append(Span("PHONE_NUMBER", pos + len(line), pos + len(line) + len(phone), source, "block"))
    lines.append(line + phone)
    pos += len(lines[-1]) + 1
    if rng.random() < 0.5:  # the fax: the same number with another last digit
        last = max(i for i, c in enumerate(phone) if c.isdigit())
        fax = phone[:last] + str((int(phone[last]) + 1) % 10) + phone[last + 1 :]
        line = f"{fax_label}: "
        spans.append(
            Span("PHONE_NUMBER", pos + len(line), pos + len(line) + len(fax), source + ":fax", "block")
        )
        lines.append(line + fax)
        pos += len(lines[-1]) + 1
    email = fake.free_email()
    if email.isascii():
        line = f"{mail_label}: "
        spans.append(
            Span("EMAIL_ADDRESS", pos + len(line), pos + len(line) + len(email), f"faker:{locale}", "block")
        )
        lines.append(line + email)
    return Doc(f"{split}/{n}", "\n".join(lines), spans)
