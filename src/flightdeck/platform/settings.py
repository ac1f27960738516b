"""One settings class, read from `FLIGHTDECK_*` environment variables (and `.env`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/flightdeck.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLIGHTDECK_", env_file=".env", extra="ignore")

    environment: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    database_echo: bool = False
    database_pool_size: int = 10

    # Tokens. An empty secret in development gets a per-process random one (with a warning).
    jwt_secret: str = ""
    jwt_algorithm: str = "HS256"
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=14, ge=1, le=90)

    # Field encryption: "kid:base64key,kid2:base64key"; the first is used to encrypt.
    encryption_keys: str = ""
    encryption_key_file: str = "var/encryption.keys"

    # Failed-login throttling.
    login_max_failures: int = 5
    login_failure_window_seconds: int = 900
    login_delay_after_failures: int = 3

    cors_origins: list[str] = []
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, url: str) -> str:
        # Operators paste plain libpq URLs; the app needs the async driver.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
