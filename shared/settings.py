"""Settings, read from the environment with the prefix ``KEHU_`` (pydantic-settings).

The same names drive ``make up``, ``compose.yaml`` and ``deploy/``: the README has the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.currencies import parse_currencies

SERVICES = ("contacts", "orders", "tickets", "insights")
DEFAULT_PORTS = {"contacts": 8001, "orders": 8002, "tickets": 8003, "insights": 8004}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEHU_", extra="ignore")

    home: Path = Field(Path(".kehu"), description="Data directory of the embedded runtime.")
    database_url: str | None = Field(
        None,
        description="PostgreSQL server URL. Each service uses its own database on it "
        "(kehu_<service>), created when missing. Unset: the embedded server.",
    )
    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers. Unset: the embedded broker.")
    topic_partitions: int = Field(4, ge=1, description="Partitions of each kehu topic when kehu creates it.")
    host: str = Field("127.0.0.1", description="Address the HTTP servers listen on.")
    http_port_base: int = Field(
        8001, ge=1, le=65000, description="contacts listens here, orders +1, tickets +2, insights +3."
    )
    embedded_kafka_port: int = Field(9092, ge=1, le=65535, description="Port of the embedded broker.")
    contacts_url: str | None = Field(None, description="Where orders and tickets reach contacts (default: local).")
    orders_url: str | None = Field(None, description="Where insights' replay reads the orders outbox (default: local).")
    tickets_url: str | None = Field(None, description="Where insights' replay reads the tickets outbox (default: local).")
    insights_url: str | None = Field(None, description="Where `kehu export` and `kehu replay` reach insights (default: local).")
    tokens_file: Path | None = Field(
        None, description="JSON file of bearer tokens (sha256) and their roles. Unset: <home>/tokens.json."
    )
    identity_key_file: Path | None = Field(
        None,
        description="The console's Ed25519 private key (PEM, PKCS8), which signs person tokens; only the console "
        "reads it. Unset: <home>/identity/console-key.pem.",
    )
    identity_public_key_file: Path | None = Field(
        None,
        description="The console's Ed25519 public key (PEM), with which a service checks person tokens (re-read "
        "within a second when it changes). Unset: <home>/identity/console-key.pub.pem; no file: person tokens "
        "are refused, API tokens work.",
    )
    service_token: str | None = Field(
        None, description="Token a service uses to call another service (read-only role is enough)."
    )
    fetch_max_wait_ms: int = Field(
        10,
        ge=1,
        description="Consumer fetch wait while records arrive; the Kafka default (500) adds ~250 ms on Tansu. "
        "10 ms measured p99 88 ms at 300 orders/s vs 339 ms with 20 ms (idle, KEHU_IDLE_FETCH_WAIT_MS applies).",
    )
    idle_fetch_wait_ms: int = Field(
        250,
        ge=1,
        description="Consumer fetch wait after a second without a record (back to KEHU_FETCH_MAX_WAIT_MS with the "
        "next record): an idle `kehu up` polled the broker 100 times a second per consumer, a quarter of a core. "
        "On Tansu the first event after a quiet spell waits up to this long; Apache Kafka answers at once.",
    )
    consumer_max_records: int = Field(500, ge=1, description="Most records one consumer transaction takes.")
    outbox_batch: int = Field(500, ge=1, description="Most outbox rows one relay round publishes.")
    outbox_poll_s: float = Field(1.0, gt=0, description="Relay polling fallback when no NOTIFY arrives.")
    outbox_retention_days: int = Field(
        0, ge=0, description="Days sent outbox rows are kept for replay; 0 keeps them forever."
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="Largest request body a service reads (larger: 413, the rest unread). The largest a "
        "`kehu import` sends, 1000 customers with every text field at its longest in CJK, is 1.3 MB (2.4 MB "
        "with \\u-escaped JSON); 1000 typical orders are 0.3 MB.",
    )
    db_pool_size: int = Field(8, ge=1, description="Connections per service pool.")
    db_acquire_timeout_s: float = Field(
        5.0, gt=0,
        description="Longest a request (or relay, consumer) waits for a database connection, opening one "
        "included; then it answers 503 (or retries).",
    )
    db_command_timeout_s: float = Field(
        10.0, gt=0,
        description="Longest one SQL statement may take before the service gives up on the database (a hung "
        "server): 503 with Retry-After for a request, a retry for a relay or consumer. Replays are not bound.",
    )
    broker_recycle_records: int = Field(
        50_000,
        ge=100,
        description="Embedded broker only: `kehu up` recycles it once a topic holds this many records.",
    )
    broker_recycle_check_s: float = Field(30.0, gt=0, description="How often `kehu up` checks topic sizes.")
    currencies: Annotated[tuple[str, ...], NoDecode] = Field(
        ("CNY",),
        description="ISO 4217 codes of the currencies the shop takes, comma-separated (CNY,USD); the first is "
        "the shop currency: the default of an order that names none, and the one insights keeps value in "
        "(amounts in the others are never added to it). An order in any other currency is refused.",
    )
    phone_region: str = Field(
        "CN",
        description="Region (ISO 3166 alpha-2) of phone numbers written without a country code: 138 0013 8000 "
        "is +8613800138000 with CN.",
    )
    timezone: str = Field(
        "Asia/Shanghai",
        description="The shop's time zone (IANA name): its calendar days, weeks and today (which day a purchase "
        "falls on, how many days ago it was).",
    )
    insights_clock: Literal["wall", "events"] = Field(
        "wall",
        description="What moves insights' time-driven rules between events: the wall clock (live) or only "
        "the event-time watermark (imports into a test system, benchmarks).",
    )
    insights_sweep_s: float = Field(30.0, gt=0, description="How often insights re-evaluates customers whose rules are due.")
    pool_sweep_s: float = Field(
        3600.0, gt=0,
        description="How often contacts returns customers to the public pool whose pool rule (no follow-up, no "
        "order for N days) has run out.")
    overdue_sweep_s: float = Field(
        3600.0, gt=0,
        description="How often orders raises PaymentOverdue for instalments whose due date passed unpaid.")
    sla_sweep_s: float = Field(
        60.0, gt=0,
        description="How often tickets raises TicketSlaBreached for promised times (SLA clocks) that ran out.")
    insights_publish_days: int = Field(
        90, ge=0,
        description="Insights publishes a conclusion on kehu.insights only if it became true at most this many "
        "days before now (an imported history is recorded, not announced to subscribers); 0 publishes all.",
    )
    insights_refit_days: int = Field(
        28, ge=1, description="Business days between refits of the population model (also refitted on demand)."
    )
    insights_replay_workers: int = Field(
        0, ge=0, le=64,
        description="Processes `kehu replay insights` folds customers in: 0 = one per core (at most 4) for "
        "histories of 20,000 events or more, else none besides the service; 1 = none; N = N.",
    )
    log_level: str = Field("INFO", description="Log level of the services (JSON lines on stderr).")
    console_url: str | None = Field(None, description="Where `kehu user` reaches the console (default: local).")
    console_port: int = Field(8000, ge=1, le=65535, description="Port of the console (the pages people sign in to).")
    console_session_idle_minutes: int = Field(
        480, ge=5, le=43200,
        description="A console session ends after this long without a request (a shift at the till is 8 hours).",
    )
    console_session_max_days: int = Field(7, ge=1, le=90, description="A console session ends this long after sign-in.")
    console_sign_in_attempts: int = Field(
        5, ge=1, le=100, description="Wrong passwords in a row for one account before it is locked for a while.")
    console_lockout_minutes: int = Field(15, ge=1, le=1440, description="How long a locked account stays locked.")
    console_secure_cookies: bool = Field(
        False, description="Mark the session cookie Secure (set it when the console is served over HTTPS).")
    console_dev_admin_password_file: Path | None = Field(
        None, description="`kehu up` only: create the account `admin` with the password in this file if no "
        "account exists yet.")

    @field_validator("currencies", mode="before")
    @classmethod
    def _currencies(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        return parse_currencies(value) if isinstance(value, str) else value

    @field_validator("phone_region")
    @classmethod
    def _phone_region(cls, value: str) -> str:
        import phonenumbers

        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region of phone numbers (ISO 3166 alpha-2, e.g. CN, HK, SG)")
        return value


def tokens_path(settings: Settings) -> Path:
    return settings.tokens_file or settings.home / "tokens.json"


def identity_key_path(settings: Settings) -> Path:
    return settings.identity_key_file or settings.home / "identity" / "console-key.pem"


def identity_public_key_path(settings: Settings) -> Path:
    return settings.identity_public_key_file or settings.home / "identity" / "console-key.pub.pem"


def service_port(settings: Settings, service: str) -> int:
    return settings.http_port_base + SERVICES.index(service)


def service_url(settings: Settings, service: str) -> str:
    """A service's base URL: its ``KEHU_<SERVICE>_URL`` setting, else this host's default port."""
    configured: str | None = getattr(settings, f"{service}_url")
    return (configured or f"http://127.0.0.1:{service_port(settings, service)}").rstrip("/")


def contacts_url(settings: Settings) -> str:
    return settings.contacts_url or f"http://127.0.0.1:{service_port(settings, 'contacts')}"
