"""The `pii:` block users write, and the entity names it accepts."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prep.core.stage import StageConfig

#: Entities found by Presidio's pattern recognizers (no language model needed).
PATTERN_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "CRYPTO",
    "MAC_ADDRESS",
    "URL",
)
#: Entities only a spaCy NER model finds (`ner_model:`).
NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")

Entity = Literal[(*PATTERN_ENTITIES, *NER_ENTITIES)]  # type: ignore[valid-type]

#: Presidio's PhoneRecognizer regions (US, GB, DE, FR, IL, IN, CA, BR) plus the European countries
#: of prep's default languages. CA is left out: "US" already validates every North American
#: number (phonenumbers checks it against all NANP regions), and each region is one more pass
#: of phonenumbers over every candidate.
DEFAULT_PHONE_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "IT",
    "ES",
    "NL",
    "PT",
    "BE",
    "AT",
    "CH",
    "IE",
    "IL",
    "IN",
    "BR",
)
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")


#: Secret types `pii.secrets.types` accepts, in priority order (see stages/pii/secrets.py: each
#: is one of detect-secrets' plugins, google_api_key prep's own regex).
SECRET_TYPES = (
    "private_key",
    "aws_key",
    "github_token",
    "gitlab_token",
    "slack_token",
    "stripe_key",
    "twilio_key",
    "google_api_key",
    "openai_key",
    "sendgrid_key",
    "pypi_token",
    "npm_token",
    "azure_storage_key",
    "square_oauth",
    "jwt",
    "basic_auth",
    "keyword",
    "high_entropy",
)
SecretType = Literal[SECRET_TYPES]  # type: ignore[valid-type]


class SecretsConfig(BaseModel):
    """Credentials in code (`pii.secrets`): on for code domains, every value becomes <SECRET>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    domains: list[str] | None = Field(default_factory=lambda: ["code"])  # null: every domain
    types: list[SecretType] = Field(default_factory=lambda: list(SECRET_TYPES), min_length=1)

    def applies_to(self, domain: str | None) -> bool:
        return self.enabled and (self.domains is None or domain in self.domains)


class AllowConfig(BaseModel):
    """Values left as they are (counted as `allowed`): public examples, well-known addresses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: list[str] = Field(default_factory=list)  # exact; case-insensitive for emails and URLs
    domains: list[str] = Field(default_factory=list)  # emails and URLs on these domains or subdomains
    non_public_ips: bool = True  # private, loopback, documentation, reserved ranges identify nobody


class Config(StageConfig):
    entities: list[Entity] = Field(default_factory=lambda: list(PATTERN_ENTITIES), min_length=1)
    threshold: float = Field(default=0.5, ge=0, le=1)  # minimum Presidio score (after context words)
    thresholds: dict[str, float] = Field(default_factory=dict)  # per entity, overrides threshold
    languages: list[str] = Field(default_factory=lambda: list(DEFAULT_LANGUAGES))  # context words
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS))
    url: Literal["credentials", "all"] = "credentials"  # plain URLs are not personal data
    replace: Literal["placeholder", "pseudonym"] = "placeholder"
    salt: str = ""  # pseudonym key material with the run seed; "env:NAME" reads variable NAME
    allow: AllowConfig = AllowConfig()
    ner_model: str | None = None  # an installed spaCy package (en_core_web_sm): PERSON, LOCATION, ORG
    drop_if_over: int | None = Field(default=None, ge=0)  # drop documents with more PII values
    secrets: SecretsConfig = SecretsConfig()  # AWS keys, tokens, private keys, passwords in code

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: list[str]) -> list[str]:
        from prep.stages.pii.context import CONTEXT_LANGUAGES

        unknown = [lang for lang in languages if lang not in CONTEXT_LANGUAGES]
        if unknown:
            known = ", ".join(CONTEXT_LANGUAGES)
            raise ValueError(f"no context words for {', '.join(unknown)} (known: {known})")
        return languages

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        import phonenumbers

        bad = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown region codes {', '.join(bad)} (ISO 3166 alpha-2, upper case)")
        return regions

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        problems = []
        for name, value in self.thresholds.items():
            if name not in self.entities and name not in NER_ENTITIES:
                problems.append(f"thresholds.{name}: not an entity of this stage")
            elif not 0 <= value <= 1:
                problems.append(f"thresholds.{name}: must be between 0 and 1 (got {value})")
        ner = [e for e in self.entities if e in NER_ENTITIES]
        if ner and self.ner_model is None:
            problems.append(f"entities: {', '.join(ner)} need a spaCy NER model: set ner_model")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def pattern_entities(self) -> list[str]:
        return [e for e in self.entities if e in PATTERN_ENTITIES]

    @property
    def ner_entities(self) -> list[str]:
        """With a model named, PERSON/LOCATION/ORGANIZATION are found unless some are listed."""
        if self.ner_model is None:
            return []
        return [e for e in self.entities if e in NER_ENTITIES] or list(NER_ENTITIES)

    def threshold_for(self, entity: str) -> float:
        return self.thresholds.get(entity, self.threshold)

    def resolved_salt(self) -> str:
        """The salt itself; `env:NAME` keeps it out of the config (and so out of manifest.json)."""
        if self.salt.startswith("env:"):
            name = self.salt[4:]
            if name not in os.environ:
                raise KeyError(f"pii.salt: environment variable {name} is not set")
            return os.environ[name]
        return self.salt

    def check_files(self) -> list[str]:
        problems = []
        if self.ner_model is not None and not ner_model_installed(self.ner_model):
            problems.append(
                f"ner_model: spaCy model {self.ner_model!r} is not installed "
                f"(pip install it first; prep never downloads models)"
            )
        if self.replace == "pseudonym" and self.salt.startswith("env:") and self.salt[4:] not in os.environ:
            problems.append(f"salt: environment variable {self.salt[4:]} is not set")
        for i, value in enumerate(self.allow.values):
            if not value.strip():
                problems.append(f"allow.values[{i}]: empty value")
        for i, domain in enumerate(self.allow.domains):
            if not domain.strip() or "@" in domain or "/" in domain:
                problems.append(
                    f"allow.domains[{i}]: expected a domain name like example.com (got {domain!r})"
                )
        return problems


def ner_model_installed(name: str) -> bool:
    """An installed spaCy package or a model folder: never a download."""
    if Path(name).is_dir():
        return (Path(name) / "config.cfg").is_file()
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
