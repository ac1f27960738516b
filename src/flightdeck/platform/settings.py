"""One settings class, read from `FLIGHTDECK_*` environment variables (and `.env`)."""

from __future__ import annotations

import os
from functools import lru_cache
from ipaddress import ip_network
from typing import Annotated, Literal

from fastapi import Depends, Request
from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flightdeck.platform.security.passwords import OWASP_MINIMUM_KIB_PASSES, HashingCost

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/flightdeck.db"


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLIGHTDECK_", env_file=".env", extra="ignore")

    environment: str = "development"
    # The services this process runs ("flights,search"; "" = all of them): what
    # `flightdeck serve --services` sets, for uvicorn's factory, which takes no arguments.
    services: str = ""
    database_url: str = DEFAULT_DATABASE_URL
    database_echo: bool = False
    database_pool_size: int = 10
    # Connections of the pool that admitted writes (holds: `WRITE_ADMISSION`, platform/db.py)
    # leave to everything else: at most pool size minus this many (at least one) run at once,
    # the others wait their turn, so a GET never queues behind hundreds of holds.
    database_read_reserve: int = Field(default=2, ge=0)
    # Of those, how many brief writes (one round trip each: a hold of one flight) run at
    # once: they keep a slot so briefly that a few keep the server busy, and more only
    # lengthen each turn of its event loop that a read waits for (docs/ARCHITECTURE.md,
    # "Write admission").
    database_brief_write_slots: int = Field(default=4, ge=1)
    # On SQLite, how many reads that take a trip to their connection's thread (a one-stop
    # search's, one booking's) run at once (default: this machine's cores); the others wait
    # for a turn. More threads than cores made each read cost SQLite more CPU
    # (platform/sqlite_driver.read_in_thread).
    database_sqlite_read_threads: int = Field(default_factory=usable_cores, ge=1)
    # How many of the primary's pooled connections search keeps checked out once it has
    # used them, lent to one search at a time (platform/kept_reads.py); at most the pool
    # size less one (on SQLite, less the shared one too); 0: each search checks one out.
    database_search_connections: int = Field(default=4, ge=0)
    # A streaming read replica of the PostgreSQL primary ("" = none): search, flight listings
    # and seat maps read from it (platform/replica.py). While it is unreachable, or further
    # than `database_replica_max_lag_seconds` behind (checked every
    # `database_replica_check_seconds`), those reads go to the primary; after a failure it is
    # tried again `database_replica_retry_seconds` later.
    database_replica_url: str = ""
    database_replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    database_replica_check_seconds: float = Field(default=1.0, gt=0)
    database_replica_retry_seconds: float = Field(default=5.0, ge=0)

    # Tokens. An empty secret in development is generated once into `jwt_secret_file`.
    jwt_secret: str = ""
    jwt_secret_file: str = "var/jwt.secret"  # noqa: S105 - a path, not a secret
    jwt_algorithm: str = "HS256"
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=14, ge=1, le=90)

    # Field encryption: "kid:base64key,kid2:base64key"; the first is used to encrypt.
    encryption_keys: str = ""
    encryption_key_file: str = "var/encryption.keys"

    # Password hashing (argon2id): memory in KiB, passes, lanes. The default is RFC 9106's
    # low-memory profile. Stored hashes keep verifying after a change and are re-hashed at the
    # user's next sign-in. In production, costs below OWASP's minimum (memory x passes under
    # 35,840 KiB, e.g. less than 19 MiB x 2) are refused; elsewhere they log a warning.
    password_hash_memory_kib: int = Field(default=65536, ge=8, le=4 * 1024 * 1024)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)

    # Each request's token is checked against its user (exists, active, role, token version),
    # cached this long per process; a change to the user evicts it on every instance at once
    # (through the bus), so this only bounds the staleness if that event were lost.
    identity_cache_seconds: float = Field(default=15, ge=0, le=3600)

    # Sign-in throttling (users/login_throttle.py; the policy is in the README): within the
    # window, `login_max_failures` failures per (account, client address) and
    # `login_max_failures_per_address` per client address, then 429. Of the attempts on one
    # account from addresses it has not signed in from lately, `login_pace_after_attempts` pass
    # freely, then one at a time: `login_pace_seconds` apart, doubling with each, up to
    # `login_pace_max_seconds`. An address is known to an account for
    # `login_known_address_days` after a successful sign-in from it.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_pace_after_attempts: int = Field(default=5, ge=1)
    login_pace_seconds: int = Field(default=1, ge=1)
    login_pace_max_seconds: int = Field(default=60, ge=1)
    login_known_address_days: int = Field(default=30, ge=1, le=365)

    # Bookings: seat holds last `hold_minutes`; the sweeper looks for expired ones every
    # `hold_sweep_seconds` (0 = no sweeper task in this process). Store: "" = the SQL
    # database, or a `mongodb://` URL.
    hold_minutes: int = Field(default=15, ge=1, le=24 * 60)
    hold_sweep_seconds: float = Field(default=30, ge=0)
    bookings_store_url: str = ""

    # Event bus: "" = in-process; else Kafka bootstrap servers ("host:port,host:port").
    # Topics are "<prefix>.<family>" (flight, booking, payment, schedule, notification, user).
    # The outbox relay polls every `relay_interval_seconds` (0 = no relay in this process); a
    # commit wakes it, at most once per `relay_min_gap_seconds` (one round per many commits).
    kafka_bootstrap_servers: str = ""
    kafka_topic_prefix: str = "flightdeck"
    kafka_request_timeout_ms: int = Field(default=5000, ge=500)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3000, ge=100)
    kafka_fetch_max_wait_ms: int = Field(default=100, ge=1)
    # Topics the bus creates when they are missing (an existing topic is left as it is).
    kafka_topic_partitions: int = Field(default=4, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    relay_interval_seconds: float = Field(default=0.2, ge=0)
    relay_min_gap_seconds: float = Field(default=0.05, ge=0)
    relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    relay_max_backoff_seconds: float = Field(default=5.0, gt=0)

    # Email notifications through SMTP; an empty host sends none (they stay in the inbox).
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "FlightDeck <no-reply@flightdeck.local>"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False

    # External flight status feed: the signed webhook (HMAC-SHA256 with this secret; empty =
    # the webhook answers 503) and, with Kafka, the topic each instance consumes.
    status_feed_secret: str = ""
    status_feed_topic: str = "flight-status-updates"

    # WebSocket: the server pings every `ws_heartbeat_seconds` and closes expired sessions.
    ws_heartbeat_seconds: float = Field(default=20, gt=0)

    # Cache: "" = in-process (this instance only), or a `redis://` URL shared by all instances.
    # Search results live `search_cache_seconds` (0 = not cached) unless a flight on the route
    # changes first.
    redis_url: str = ""
    # The in-process cache's budget (keys and values, per process; not Redis's): least
    # recently used entries go first past it. At most a TiB (a finite number).
    cache_memory_megabytes: float = Field(default=256, ge=1, le=1024 * 1024, allow_inf_nan=False)
    search_cache_seconds: float = Field(default=30, ge=0)
    # A flight number's punctuality (shown on search results) is cached this long, unless a
    # flight of that number gets an outcome (arrived, cancelled, diverted) first.
    punctuality_cache_seconds: float = Field(default=900, ge=0)

    # Itinerary search: minimum connection time (domestic when all the airports of a
    # connection are in one country) and the longest layover offered.
    min_connection_domestic_minutes: int = Field(default=45, ge=0, le=24 * 60)
    min_connection_international_minutes: int = Field(default=90, ge=0, le=24 * 60)
    max_layover_minutes: int = Field(default=480, ge=1, le=48 * 60)

    # Payments: the gateway ("sandbox" = the embedded test-mode processor, or "stripe" with
    # `stripe_api_key`; `stripe_api_base` points the SDK at another server, e.g. localstripe),
    # the webhook signing secret (empty: webhooks answer 503), the timeout of one gateway call,
    # and the circuit breaker: open after `gateway_breaker_threshold` consecutive failures,
    # one trial call after `gateway_breaker_reset_seconds`.
    payment_gateway: Literal["sandbox", "stripe"] = "sandbox"
    stripe_api_key: str = ""
    stripe_api_base: str = ""
    payment_webhook_secret: str = ""
    gateway_timeout_seconds: float = Field(default=10, gt=0)
    gateway_breaker_threshold: int = Field(default=5, ge=1)
    gateway_breaker_reset_seconds: float = Field(default=30, gt=0)
    # Payment recovery: every `payment_reconcile_seconds` (0 = not in this process) the
    # reconciler settles attempts left `processing` (the gateway's answer was lost) for longer
    # than `payment_reconcile_after_seconds` (default: twice the gateway timeout). The refund
    # worker looks for due refunds every `payment_refund_poll_seconds` (0 = not in this
    # process; a commit that queues one wakes it at once) and retries a failed one after 1 s,
    # doubling up to `payment_refund_max_backoff_seconds`.
    payment_reconcile_seconds: float = Field(default=30, ge=0)
    payment_reconcile_after_seconds: float | None = Field(default=None, gt=0)
    payment_refund_poll_seconds: float = Field(default=1.0, ge=0)
    payment_refund_max_backoff_seconds: float = Field(default=300, gt=0)

    # Monthly partitions of the tables that only grow (PostgreSQL; `flightdeck partitions`):
    # a month is dropped once it ended more than this many days ago (0 = kept for ever).
    # Published outbox events and consumers' markers only guard against redelivery (keep them
    # longer than the broker keeps messages); the status history is each flight's record of
    # its changes (punctuality and reports read the flights' own outcome columns); the audit
    # log is kept for ever unless a retention policy says otherwise.
    retention_outbox_days: int = Field(default=30, ge=0)
    retention_processed_events_days: int = Field(default=30, ge=0)
    retention_status_history_days: int = Field(default=0, ge=0)
    retention_audit_log_days: int = Field(default=0, ge=0)

    # On SIGTERM the server stops taking connections and lets requests and sockets in flight
    # finish for at most this long, then ends them (inside Kubernetes' 30 s grace period).
    shutdown_grace_seconds: int = Field(default=20, ge=1, le=600)

    cors_origins: list[str] = []
    log_level: str = "INFO"
    # The event loop `flightdeck serve` runs (cli/server.py, `uvicorn_loop`): auto is asyncio's
    # own on SQLite, whose brief reads run in the loop, and uvloop (uvicorn's choice) otherwise.
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    # FastAPI's own OpenTelemetry spans and metrics, for a host that configured an
    # OpenTelemetry SDK. Off, FastAPI does not ask on every request whether one is configured
    # (about 3 % of a request's CPU); our metrics are Prometheus' (/metrics).
    opentelemetry: bool = False

    # Rate limits on every request (platform/http_limits.py), in the `limits` notation
    # ("600/minute", several joined by ";"): per client address and per signed-in user, plus a
    # stricter named limit on the routes that declare one (`rate_limit_<name>`, counted per
    # user when signed in, else per address). Counters live in Redis when `redis_url` is set.
    rate_limits_enabled: bool = True
    rate_limit_per_address: str = "600/minute"
    rate_limit_per_user: str = "600/minute"
    rate_limit_register: str = "10/minute;50/hour"
    rate_limit_login: str = "30/minute"
    rate_limit_search: str = "120/minute"
    rate_limit_create_booking: str = "30/minute"
    # Longest wait for Redis on one rate-limit operation before counting in-process instead.
    rate_limit_storage_timeout_seconds: float = Field(default=0.25, gt=0)
    # Peers whose X-Forwarded-For is believed (the gateway): IPs or CIDRs, comma-separated.
    # From anyone else the header is ignored and the peer's own address is the client's.
    trusted_proxies: str = ""

    @field_validator(
        "rate_limit_per_address",
        "rate_limit_per_user",
        "rate_limit_register",
        "rate_limit_login",
        "rate_limit_search",
        "rate_limit_create_booking",
    )
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '100/minute;1000/hour': {value!r}") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_trusted_proxies(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {part!r} is not an IP or CIDR") from exc
        return value

    # The app at `/` (flightdeck.ui): the API it calls ("" = this server, at the address the
    # browser's session reached) and where its compressed web files are kept.
    ui_api_url: str = ""
    ui_asset_cache_dir: str = "var/ui-cache"
    # Request bodies: JSON and forms at most `max_body_bytes`; multipart uploads (the SSIM
    # import: a file of at most 5 MB plus the form's framing) at most `max_upload_bytes`.
    # Larger bodies are refused with 413 while they stream in, never held in memory.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)

    # Keyed digests (HMAC-SHA256) of personal data, e.g. the request bodies kept for
    # Idempotency-Key replays: "kid:base64key,kid2:base64key"; the first keys new digests,
    # every one still verifies (rotation). Empty: derived from each encryption key (HKDF,
    # same key ids), so they rotate with `encryption_keys`.
    digest_keys: str = ""

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, level: str) -> str:
        level = level.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _normalise_database_url(cls, url: str) -> str:
        # Operators paste plain libpq URLs; the app needs the async driver.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url

    @model_validator(mode="after")
    def _replica_of_postgresql_only(self) -> Settings:
        if self.database_replica_url and (
            self.is_sqlite or not self.database_replica_url.startswith("postgresql")
        ):
            raise ValueError("database_replica_url: a read replica needs PostgreSQL (both URLs)")
        return self

    @model_validator(mode="after")
    def _sound_password_hashing(self) -> Settings:
        cost = self.password_hashing
        if cost.memory_kib < 8 * cost.parallelism:
            raise ValueError("password_hash_memory_kib: argon2 needs at least 8 KiB per lane")
        if self.is_production and cost.below_owasp_minimum:
            raise ValueError(
                "password_hash_memory_kib x password_hash_time_cost is below OWASP's argon2id "
                f"minimum ({OWASP_MINIMUM_KIB_PASSES:,} KiB-passes) in production"
            )
        return self

    @property
    def password_hashing(self) -> HashingCost:
        return HashingCost(
            memory_kib=self.password_hash_memory_kib,
            time_cost=self.password_hash_time_cost,
            parallelism=self.password_hash_parallelism,
        )

    @property
    def service_names(self) -> list[str] | None:
        """The services named by `services`; None when it names none (run them all)."""
        names = [part.strip() for part in self.services.split(",") if part.strip()]
        return names or None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def app_settings(request: Request) -> Settings:
    """The running app's settings (a FastAPI dependency)."""
    settings: Settings = request.app.state.settings
    return settings


async def _app_settings_dependency(request: Request) -> Settings:
    # A coroutine: FastAPI runs a plain-function dependency in its threadpool, a thread hop
    # on every request.
    return app_settings(request)


AppSettings = Annotated[Settings, Depends(_app_settings_dependency)]
