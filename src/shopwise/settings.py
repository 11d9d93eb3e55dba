"""Runtime configuration: one :class:`Settings` object, read from ``SHOPWISE_*`` variables.

Built by the app factory and the CLI (never at import), and passed down explicitly, so tests build
their own with a temporary data directory.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"

ConsentMode = Literal["opt_in", "opt_out"]
"""``opt_in``: a purpose is refused until the shopper grants it; ``opt_out``: allowed until
refused."""


class Settings(BaseSettings):
    """Everything a shopwise process needs to know about its environment."""

    model_config = SettingsConfigDict(env_prefix="SHOPWISE_", extra="forbid", frozen=True)

    environment: Literal["development", "production"] = "development"
    """``production`` refuses the development secret key."""
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    """Keys the hashes of erased shoppers' ids (the suppression list); set it in production."""
    data_dir: Path = Path("./var")
    """Where the embedded database, model artifacts and logs live."""
    database_url: str | None = None
    """SQLAlchemy URL; unset means a SQLite file ``shopwise.db`` in ``data_dir``."""
    host: str = "127.0.0.1"
    """Address ``shopwise serve`` listens on."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port ``shopwise serve`` listens on."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the JSON logs on stderr."""
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """FULL makes every acknowledged commit survive power loss; NORMAL survives process crashes."""
    rate_limit_per_second: float = Field(default=2000.0, gt=0)
    """Token refill rate of each API key's bucket (requests a second)."""
    rate_limit_burst: int = Field(default=4000, ge=1)
    """Bucket size of each API key."""
    rate_limit_per_shopper_per_second: float = Field(default=20.0, gt=0)
    """Token refill rate of each shopper's bucket under a public (write) key: the request's
    ``anonymous_id`` query parameter, else its client address."""
    rate_limit_per_shopper_burst: int = Field(default=100, ge=1)
    """Bucket size of each shopper under a public (write) key."""
    rate_limit_unknown_key_per_second: float = Field(default=1.0, gt=0)
    """Refill rate of each client address's bucket for keys that do not verify (key guessing)."""
    rate_limit_unknown_key_burst: int = Field(default=20, ge=1)
    """Invalid keys a client address may try at once before its requests get 429."""
    session_idle_minutes: int = Field(default=30, ge=1)
    """Minutes of inactivity after which a shopper's next event starts a new session."""
    api_consumers: bool = True
    """Run the bus consumers (profiles) inside ``serve``; set false when workers run them."""
    answer_cache_size: int = Field(default=20_000, ge=0)
    """Answers serving keeps for repeated requests with unchanged inputs (0 turns it off)."""
    identity_verification: Literal["optional", "required"] = "optional"
    """Whether a user id sent with a write key needs a valid ``user_hash``: ``optional`` stores
    it as claimed (it stitches, for analytics, but unlocks nothing), ``required`` refuses it."""
    consent_analytics: ConsentMode = "opt_out"
    """What a shopper's silence means for analytics (measurement, KPIs, model training)."""
    consent_personalization: ConsentMode = "opt_out"
    """What silence means for personalization (answers from the shopper's own behaviour)."""
    consent_marketing: ConsentMode = "opt_in"
    """What silence means for marketing (segments, triggered messages)."""
    consent_advertising: ConsentMode = "opt_in"
    """What silence means for advertising (audiences exported to ad platforms)."""
    extra_properties: dict[str, list[str]] = Field(default_factory=dict)
    """Event type (or ``*`` for every type) -> names of undeclared properties stored; others are
    dropped at ingestion. Empty keeps what the types declare and what shopwise reads."""
    retention_days: int = Field(default=396, ge=1)
    """Days raw events and dead letters are kept (13 months); the worker deletes older ones."""
    attribution_window_hours: int = Field(default=24, ge=1)
    """Hours after a recommendation click in which the clicker's order is attributed to it (and
    after an answer in which its clicks and adds to cart count); read by the KPI job."""
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """Origins (``https://shop.example``) whose pages may call the public routes across origins;
    comma-separated, ``*`` for any. Empty: none, except the Segment routes, which then answer any
    origin (analytics.js posts there from the shop's pages with the page's public write key)."""
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    """Addresses or networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-Host`` and
    ``X-Forwarded-Proto`` are believed; comma-separated. Empty: those headers are ignored."""

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # a ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _refuse_the_development_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("SHOPWISE_SECRET_KEY must be set in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL actually used (the SQLite default made explicit)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'shopwise.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
