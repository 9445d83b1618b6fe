"""The allow-list: values that look like PII but are public (example.com, 8.8.8.8, 127.0.0.1)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from prep.stages.pii.config import AllowConfig

#: Entities compared case-insensitively (DNS names are).
_CASELESS = ("EMAIL_ADDRESS", "URL")


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_interface(value).ip
    except ValueError:
        return None


def _host(entity: str, value: str) -> str | None:
    if entity == "EMAIL_ADDRESS":
        return value.rpartition("@")[2].lower()
    if entity == "URL":
        try:
            host = urlsplit(value if "://" in value else "//" + value).hostname
        except ValueError:
            return None
        return host.lower() if host else None
    return None


def _has_credentials(entity: str, value: str) -> bool:
    """A URL carrying user:password: a public host does not make the credential public."""
    if entity != "URL":
        return False
    try:
        parts = urlsplit(value if "://" in value else "//" + value)
    except ValueError:
        return True
    return parts.password is not None


class AllowList:
    def __init__(self, config: AllowConfig):
        self.values = {v.strip() for v in config.values}
        self.caseless = {v.strip().lower() for v in config.values}
        self.ips = {ip for v in config.values if (ip := _ip(v.strip())) is not None}
        self.domains = tuple(d.strip().lower().lstrip(".") for d in config.domains)
        self.non_public_ips = config.non_public_ips

    def allows(self, entity: str, value: str) -> bool:
        if value in self.values or (entity in _CASELESS and value.lower() in self.caseless):
            return True
        if entity == "IP_ADDRESS":
            ip = _ip(value)
            if ip is not None and (ip in self.ips or (self.non_public_ips and not ip.is_global)):
                return True
        if self.domains and entity in _CASELESS and not _has_credentials(entity, value):
            host = _host(entity, value)
            if host and any(host == d or host.endswith("." + d) for d in self.domains):
                return True
        return False
