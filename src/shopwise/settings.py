"""Runtime configuration: one :class:`Settings` object, read from ``SHOPWISE_*`` variables.

Built by the app factory and the CLI (never at import), and passed down explicitly, so tests build
their own with a temporary data directory.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, HttpUrl, RedisDsn, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret-change-me"

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
    redis_url: RedisDsn | None = None
    """Redis server (``redis://host:6379/0``); set, the event bus runs on Redis Streams
    (``docs/deploy.md``); unset, on the event table in process."""
    redis_prefix: str = Field(default="shopwise", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Prefix of every Redis key and channel shopwise writes (the bus, rate limits, change
    announcements): shops sharing one Redis need different prefixes."""
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
    gate_tolerance: float = Field(default=0.02, ge=0, lt=1)
    """How much worse (relative, on the holdout NDCG@10) a retrained recommender may score than
    the champion and still replace it."""
    gate_holdout_days: float = Field(default=7.0, gt=0)
    """The shop's most recent days the model gate scores the retrained model and the champion on."""
    gate_min_queries: int = Field(default=50, ge=1)
    """Fewest holdout shoppers the gate decides on; with fewer, a retrained model is promoted
    and the registry says the gate was not applied."""
    drift_webhook_url: HttpUrl | None = None
    """Where the worker's drift check sends a notification when it finds drift, as an outbox
    webhook (signed with ``webhook_secret``, retried like every webhook); unset: none."""
    audience_webhook_url: HttpUrl | None = None
    """Where the worker delivers the acquisition audiences (who entered and left the lookalike
    audience, with hashed emails, and the bid multipliers) as outbox webhooks; unset: none."""
    audience_webhook_hours: float = Field(default=24.0, gt=0)
    """How often the worker delivers the audiences to ``audience_webhook_url``."""
    webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    """Signs the journeys' webhooks (``X-Shopwise-Signature``: HMAC-SHA256 of the timestamp, a
    dot and the body); receivers verify with it. Set it in production."""
    smtp_host: str | None = None
    """SMTP server the journeys' emails are sent through; unset: emails wait and retry."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    """Port of the SMTP server."""
    smtp_starttls: bool = True
    """Upgrade the SMTP connection with STARTTLS before authenticating and sending."""
    smtp_user: str | None = None
    """SMTP login; unset: no authentication."""
    smtp_password: SecretStr | None = None
    """SMTP password of ``smtp_user``."""
    smtp_from: str = "shop@localhost"
    """The ``From`` address of the journeys' emails (its domain also names the Message-ID)."""
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    """Connect and read timeout of one webhook POST or SMTP conversation."""
    outbox_max_attempts: int = Field(default=8, ge=1)
    """Delivery attempts of an outbox message before it is ``dead``."""
    outbox_backoff_seconds: float = Field(default=30.0, gt=0)
    """Ceiling of the wait after the first failed attempt; it doubles with each further one
    (full jitter: the wait is drawn uniformly below the ceiling)."""
    outbox_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    """The largest ceiling of the wait between two attempts."""
    journeys_timezone: str = "UTC"
    """Time zone (IANA name) of the triggers' quiet hours for shoppers without a ``timezone``
    trait."""
    shop_url: HttpUrl = HttpUrl("http://localhost:3000")
    """The shop's storefront: the triggers' messages link to ``<shop_url>/products/<id>`` (for
    products without a ``url`` attribute) and to the shop's home."""
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

    @field_validator("journeys_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not a time zone: {value!r}") from None
        return value

    @model_validator(mode="after")
    def _refuse_the_development_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ValueError("SHOPWISE_SECRET_KEY must be set in production")
        if (
            self.environment == "production"
            and self.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET
        ):
            raise ValueError("SHOPWISE_WEBHOOK_SECRET must be set in production")
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
