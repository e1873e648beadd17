"""Settings, read from the environment (prefix ``CXPRISM_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "insecure-development-secret-change-me"  # noqa: S105 - flagged at start-up


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CXPRISM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite+aiosqlite:///{Path.cwd() / 'cxprism.db'}",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    database_pool_size: int = 10
    # Used to sign session cookies and CSRF tokens and to wrap per-customer data keys.
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    base_url: str = "http://127.0.0.1:8000"
    # Session cookies carry Secure when the public URL is https (always, behind TLS).
    session_ttl_hours: int = 12
    max_request_bytes: int = 1_048_576
    # Workers started by `serve`; `worker` processes can be added for scale-out.
    embedded_workers: bool = True
    worker_concurrency: int = 1
    worker_batch_size: int = 100
    job_lease_seconds: float = 60.0
    relay_poll_seconds: float = 0.2
    scheduler_poll_seconds: float = 0.2
    event_backend: str = "inprocess"
    log_level: str = "info"
    # One line per request costs more than a tracking request itself; off unless asked.
    access_log: bool = False
    # Inbound email: `serve` runs an SMTP server here for the workspaces' inbox addresses.
    smtp_enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    # Attachments (kit.storage.LocalStorage); relative paths are under the working directory.
    storage_dir: Path = Path("var/attachments")
    # Test/development only: networks the SSRF guard lets through (comma-separated CIDRs,
    # e.g. "127.0.0.1/32" for local fakes). Outgoing calls on a user's behalf otherwise
    # never reach private, loopback or link-local addresses; leave empty in production.
    outbound_http_allow: str = ""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
