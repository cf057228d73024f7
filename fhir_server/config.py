"""Settings from the environment: one typed place, built once in ``create_app``."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fhir_server import timefmt


class Link(BaseSettings):
    """A link on the portal's Resources page."""

    title: str
    url: str
    description: str = ""


DEFAULT_RESOURCES = [
    Link(
        title="National Cancer Institute",
        url="https://www.cancer.gov/",
        description="Trusted information about cancer types, treatment and clinical trials.",
    ),
    Link(
        title="American Cancer Society",
        url="https://www.cancer.org/",
        description="Support, programs and answers 24 hours a day at 1-800-227-2345.",
    ),
    Link(
        title="CancerCare",
        url="https://www.cancercare.org/",
        description="Free counseling, support groups and financial help from oncology social workers.",
    ),
]


class Settings(BaseSettings):
    """Everything an operator can set. Environment names are the documented ones."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    mongodb_uri: str | None = Field(default=None, validation_alias="MONGODB_URI")
    base_url: str = Field(
        default="http://127.0.0.1:8080",
        validation_alias=AliasChoices("CARESPACE_BASE_URL", "base_url"),
    )
    smtp_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CARESPACE_SMTP_URL", "smtp_url")
    )
    data_dir: Path = Field(
        default=Path("var"), validation_alias=AliasChoices("CARESPACE_DATA_DIR", "data_dir")
    )
    db_cache_size: str = Field(
        default="512M", pattern=r"^[1-9][0-9]*[MG]$",
        validation_alias=AliasChoices("CARESPACE_DB_CACHE_SIZE", "db_cache_size"))
    database_name: str = Field(
        default="carespace", validation_alias=AliasChoices("CARESPACE_DB_NAME", "database_name")
    )
    demo: bool = False
    practice_name: str = Field(
        default="Riverbend Oncology Associates",
        validation_alias=AliasChoices("CARESPACE_PRACTICE_NAME", "practice_name"),
    )
    practice_email: str = Field(
        default="care@riverbend-oncology.example.org",
        validation_alias=AliasChoices("CARESPACE_PRACTICE_EMAIL", "practice_email"),
    )
    resource_links: list[Link] = Field(default_factory=lambda: list(DEFAULT_RESOURCES))
    message_categories: list[str] = Field(default_factory=lambda: ["Rx", "Health"])
    # "json" (one object per line), "text", or "auto": text on a terminal, JSON otherwise.
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", validation_alias=AliasChoices("CARESPACE_LOG_FORMAT", "log_format"))
    # Lets /metrics answer other machines that send it as a bearer token; unset: this machine only.
    metrics_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("CARESPACE_METRICS_TOKEN",
                                                                                        "metrics_token"))
    # SIGTERM: seconds to let requests in flight finish before they are cancelled.
    shutdown_timeout: float = Field(default=20, validation_alias=AliasChoices("CARESPACE_SHUTDOWN_TIMEOUT",
                                                                              "shutdown_timeout"))
    # Seconds an idle HTTP connection stays open. Longer than the idle timeout of the clients and
    # proxies in front (httpx 5 s, AWS load balancers 60 s), so that they close it first: a
    # server that closes first races a request the client is sending on it (a reset, no answer).
    keep_alive_timeout: int = Field(default=75, ge=1, validation_alias=AliasChoices(
        "CARESPACE_KEEP_ALIVE_TIMEOUT", "keep_alive_timeout"))
    # The practice's (and so its patients') time zone: every time a person reads is shown in it,
    # or in the browser's own zone where the page can tell.
    timezone: str = Field(default_factory=timefmt.server_zone_name,
                          validation_alias=AliasChoices("CARESPACE_TIMEZONE", "timezone"))
    max_body_bytes: int = 16 * 1024 * 1024
    access_token_ttl: int = 3600
    backend_token_ttl: int = 300

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        timefmt.zone_named(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return timefmt.zone_named(self.timezone)

    @property
    def fhir_base(self) -> str:
        """The absolute FHIR base URL that links, `aud` and fullUrls use."""
        return self.base_url.rstrip("/") + "/fhir"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    # Set by ``serve`` when it started the embedded database (it wants retryWrites=false).
    embedded_db: bool = False
    # The demo outbox's secret: new at every start, printed by ``serve --demo`` as a link (the
    # outbox shows reset links and Send Record keys, so reaching the port is not enough).
    outbox_token: str = Field(default_factory=lambda: secrets.token_urlsafe(24), exclude=True,
                              validation_alias="CARESPACE_OUTBOX_TOKEN")

    @property
    def outbox_link(self) -> str:
        return f"{self.base_url.rstrip('/')}/dev/outbox?token={self.outbox_token}"
