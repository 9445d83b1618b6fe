"""Replacing found values: type placeholders, or consistent, salted, one-way pseudonyms.

Pseudonyms: HMAC-SHA256 keyed with (run seed, salt) of the entity type and the value's
canonical form (an e-mail lower-cased; a phone, card or SSN as its digits, so "(887)
953-3654" and "887-953-3654" get the same fake digits) seeds a `random.Random`, which
draws a fake of the same shape. Same value, same key -> same fake, in every batch and
actor of a run; the fake is drawn from random bytes, so nothing about the value can be
read back from it, and without the key one cannot test guesses either (keep the salt
secret: `salt: env:NAME`). Fakes cannot be mistaken for someone's real data where a
reserved range exists: e-mails on example.com/.net/.org, SSNs with area 900-999 (never
issued), IPv6 in 2001:db8::/32, MACs with the locally-administered bit set.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import re
import string

#: Default replacement text per entity.
PLACEHOLDERS = {
    "EMAIL_ADDRESS": "<EMAIL>",
    "PHONE_NUMBER": "<PHONE>",
    "CREDIT_CARD": "<CREDIT_CARD>",
    "IBAN_CODE": "<IBAN>",
    "IP_ADDRESS": "<IP_ADDRESS>",
    "US_SSN": "<US_SSN>",
    "CRYPTO": "<CRYPTO_WALLET>",
    "MAC_ADDRESS": "<MAC_ADDRESS>",
    "URL": "<URL>",
    "PERSON": "<PERSON>",
    "LOCATION": "<LOCATION>",
    "ORGANIZATION": "<ORGANIZATION>",
}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_CREDENTIALS = re.compile(r"^([a-z][a-z0-9+.\-]*://)([^:@/]*):([^@/]*)@", re.IGNORECASE)


def placeholder(entity: str) -> str:
    return PLACEHOLDERS.get(entity, f"<{entity}>")


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def canonical(entity: str, value: str) -> str:
    """The form two spellings of the same value share."""
    if entity in ("PHONE_NUMBER", "CREDIT_CARD", "US_SSN"):
        return _digits(value)
    if entity in ("IBAN_CODE", "MAC_ADDRESS"):
        return "".join(c for c in value.upper() if c.isalnum())
    if entity == "IP_ADDRESS":
        try:
            return str(ipaddress.ip_interface(value))
        except ValueError:
            return value
    if entity in ("EMAIL_ADDRESS", "URL"):
        return value.lower()
    return value.strip()


def _same_shape_digits(value: str, rng: random.Random, keep: int = 0) -> str:
    """Every digit after the first `keep` ones replaced by a random digit; the rest kept."""
    out, seen = [], 0
    for c in value:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= keep else str(rng.randrange(10)))
        else:
            out.append(c)
    return "".join(out)


def _luhn_fix(number: str) -> str:
    """Set the last digit of `number` (digits and separators) so the Luhn check passes."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits[:-1])):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    check = str((10 - total % 10) % 10)
    last = max(i for i, c in enumerate(number) if c.isdigit())
    return number[:last] + check + number[last + 1 :]


def _iban(value: str, rng: random.Random) -> str:
    chars = []
    for i, c in enumerate(value):
        if i < 2 or not c.isalnum():
            chars.append(c)
        elif c.isdigit():
            chars.append(str(rng.randrange(10)))
        else:
            chars.append(rng.choice(string.ascii_uppercase))
    compact = [i for i, c in enumerate(chars) if c.isalnum()]
    bban = "".join(chars[i] for i in compact[4:])
    country = "".join(chars[i] for i in compact[:2]).upper()
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    check = f"{98 - number % 97:02d}"
    chars[compact[2]], chars[compact[3]] = check[0], check[1]
    return "".join(chars)


def _ssn(value: str, rng: random.Random) -> str:
    digits = f"{rng.randint(900, 999)}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    it = iter(digits)
    return "".join(next(it, "0") if c.isdigit() else c for c in value)


def _ip(value: str, rng: random.Random) -> str:
    suffix = value[value.index("/") :] if "/" in value else ""
    try:
        version = ipaddress.ip_interface(value).version
    except ValueError:
        version = 4
    if version == 6:
        groups = [f"{rng.getrandbits(16):x}" for _ in range(6)]
        return "2001:db8:" + ":".join(groups) + suffix
    first = rng.choice([n for n in range(1, 224) if n not in (10, 100, 127, 169, 172, 192, 198, 203)])
    return (
        ".".join(str(x) for x in (first, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)))
        + suffix
    )


def _mac(value: str, rng: random.Random) -> str:
    octets = [rng.getrandbits(8) for _ in range(6)]
    octets[0] = (octets[0] | 0x02) & 0xFE  # locally administered, unicast: never a vendor's
    hexs = "".join(f"{o:02x}" for o in octets)
    if value.isupper() or any(c in "ABCDEF" for c in value):
        hexs = hexs.upper()
    it = iter(hexs)
    return "".join(next(it) if c in string.hexdigits else c for c in value)


def base58check(payload: bytes) -> str:
    """Base58Check of a version byte + payload (Bitcoin's address encoding, with its checksum)."""
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    num, out = int.from_bytes(data, "big"), ""
    while num:
        num, rem = divmod(num, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def _bitcoin(rng: random.Random) -> str:
    return base58check(b"\x00" + bytes(rng.getrandbits(8) for _ in range(20)))


class Pseudonymizer:
    """Same value -> same fake within a run (all batches, all actors); one-way."""

    def __init__(self, seed: int, salt: str):
        self.key = hashlib.sha256(f"prep-pii\x00{seed}\x00{salt}".encode()).digest()
        self._faker = None

    def rng(self, entity: str, value: str) -> random.Random:
        mac = hmac.new(self.key, f"{entity}\x00{canonical(entity, value)}".encode(), hashlib.sha256)
        return random.Random(int.from_bytes(mac.digest(), "big"))

    @property
    def faker(self):
        if self._faker is None:
            from faker import Faker

            self._faker = Faker("en_US")
        return self._faker

    def _fake(self, rng: random.Random):
        fake = self.faker
        fake.seed_instance(rng.getrandbits(64))
        return fake

    def __call__(self, entity: str, value: str) -> str:
        rng = self.rng(entity, value)
        if entity == "EMAIL_ADDRESS":
            fake = self._fake(rng)
            return f"{fake.user_name()}@{rng.choice(('example.com', 'example.net', 'example.org'))}"
        if entity == "PHONE_NUMBER":
            # keep a country code's first two digits or a trunk '0': the fake stays plausible
            keep = 2 if value.lstrip("(").startswith("+") else int(_digits(value)[:1] == "0")
            return _same_shape_digits(value, rng, keep=keep)
        if entity == "CREDIT_CARD":
            return _luhn_fix(_same_shape_digits(value, rng, keep=1))
        if entity == "IBAN_CODE":
            return _iban(value, rng)
        if entity == "US_SSN":
            return _ssn(value, rng)
        if entity == "IP_ADDRESS":
            return _ip(value, rng)
        if entity == "MAC_ADDRESS":
            return _mac(value, rng)
        if entity == "CRYPTO":
            return _bitcoin(rng)
        if entity == "URL":
            m = _CREDENTIALS.match(value)
            if m is None:
                return placeholder(entity)
            fake = self._fake(rng)
            password = "".join(
                rng.choice(string.ascii_lowercase + string.digits) for _ in range(len(m[3]) or 8)
            )
            return f"{m[1]}{fake.user_name()}:{password}@{value[m.end() :]}"
        if entity == "PERSON":
            return self._fake(rng).name()
        if entity == "LOCATION":
            return self._fake(rng).city()
        if entity == "ORGANIZATION":
            return self._fake(rng).company()
        return placeholder(entity)


def rewrite(text: str, spans: list[tuple[int, int, str]], replacement) -> str:
    """`text` with each (start, end, entity) span, sorted and disjoint, replaced in one pass."""
    parts, pos = [], 0
    for start, end, entity in spans:
        parts.append(text[pos:start])
        parts.append(replacement(entity, text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)
