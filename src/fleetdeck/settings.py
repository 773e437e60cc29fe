"""Settings: one declarative model; every field has a type, a default and a description.

Sources, later ones overriding earlier: defaults, the TOML file named by ``FLEETDECK_CONFIG``
``FLEETDECK_*`` environment variables, then explicit arguments (the CLI
passes its flags as arguments). There is no module-level instance: ``create_app`` and the CLI
build one and pass values down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fleetdeck.bus import BUS_SCHEMES
from fleetdeck.core.nodes import check_lease_sec


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEETDECK_", extra="forbid")

    data_dir: Path = Field(Path("fleetdeck-data"), description="Where the database, keys and files live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy or plain postgresql:// URL; empty = SQLite in data_dir (WAL mode).",
    )
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port the server listens on.")
    tls: Literal["off", "auto", "files"] = Field(
        "off",
        description="off; auto = certificate signed by fleetdeck's own CA (data_dir/tls);"
        " files = tls_cert/tls_key.",
    )
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) for HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key for HTTPS.")
    public_url: str | None = Field(None, description="URL agents and users reach the server at.")
    secret_key: str | None = Field(
        None, description="Signs tokens and encrypts secrets at rest; empty = generated into data_dir."
    )
    token_lifetime_sec: int = Field(12 * 3600, ge=60, description="Lifetime of login JWTs.")
    heartbeat_sec: float = Field(30.0, gt=0, description="Agent heartbeat interval.")
    offline_after_sec: float = Field(
        0.0, ge=0, description="Mark an agent offline after this silence; 0 = 2.5 x heartbeat_sec."
    )
    reconnect_window_sec: float = Field(
        30.0, ge=0, description="On shutdown, agents are told to reconnect spread over this many seconds."
    )
    agent_hello_timeout_sec: float = Field(
        15.0, gt=0, description="An agent connection that sends no hello (or enroll) within this is closed."
    )
    job_lost_after_sec: float = Field(
        3600.0,
        gt=0,
        description="A delivered job whose computer is offline is failed as lost this long after its"
        " timeout ran out (an agent that never comes back must not leave it running forever).",
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest accepted HTTP request body.")
    max_payload_bytes: int = Field(
        64 * 1024**3,
        ge=1024,
        description="Largest package payload accepted by the streaming upload routes (/api/v1/uploads,"
        " /api/v1/packages/{id}/payload); JSON bodies keep max_body_bytes.",
    )
    payload_bandwidth_bytes_per_sec: int = Field(
        0,
        ge=0,
        description="All payload downloads of agents from this server process together send at most"
        " this many bytes per second; 0 = no limit.",
    )
    payload_max_downloads: int = Field(
        0,
        ge=0,
        description="Payload downloads this server process serves at once; further agents are told to"
        " come back later (503 with Retry-After) and wait without failing their job. 0 = no cap.",
    )
    max_output_bytes: int = Field(1024 * 1024, ge=1024, description="Job stdout/stderr kept per stream.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins of one user name from one address per window before a wait."
    )
    login_max_failures_per_address: int = Field(
        50, ge=1, description="Failed logins from one address, any user names, per window before a wait."
    )
    login_window_sec: float = Field(300.0, gt=0, description="Window for counting failed logins.")
    argon2_time_cost: int = Field(3, ge=1, le=100, description="argon2id passes per password hash.")
    argon2_memory_kib: int = Field(
        65536, ge=8, le=4 * 1024 * 1024, description="argon2id memory per password hash, in KiB."
    )
    argon2_parallelism: int = Field(4, ge=1, le=64, description="argon2id lanes per password hash.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed;"
        " empty = none (the client address is the peer's, so throttling and audit cannot be fooled).",
    )
    node_id: str = Field(
        "local",
        max_length=64,
        description="Name of this server process in a multi-process setup; a process whose name a"
        " running process holds takes <node_id>-<random> instead.",
    )
    node_lease_sec: float = Field(
        30.0,
        description="A server process that has not renewed its node lease for this long is taken"
        " for dead: its agents' computers are marked offline. At least 15 (three renewals, one"
        " every 5 s).",
    )
    bus_url: str | None = Field(
        None,
        description="How several server processes on one database reach each other: redis://host:6379"
        " or nats://host:4222; empty = in-process (one server process).",
    )
    bus_namespace: str = Field(
        "fleetdeck",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Prefix of this installation's topics on a shared Redis or NATS: every process of"
        " one installation uses the same, another installation on the same bus another one.",
    )
    log_level: str = Field("info", description="debug, info, warning, error.")
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    access_log: bool = Field(False, description="Log every HTTP request.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = os.environ.get("FLEETDECK_CONFIG")
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml)))
        return tuple(sources)

    @field_validator("bus_url")
    @classmethod
    def _known_bus(cls, url: str | None) -> str | None:
        if url and url.partition("://")[0].lower() not in BUS_SCHEMES:
            raise ValueError("must start with redis://, rediss://, unix://, nats:// or tls://")
        return url or None

    @field_validator("node_lease_sec")
    @classmethod
    def _lease_outlasts_renewals(cls, value: float) -> float:
        check_lease_sec(value)  # its ValueError is the message the user sees
        return value

    @model_validator(mode="after")
    def _argon2_memory_fits_lanes(self) -> Settings:
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ValueError("argon2_memory_kib must be at least 8 x argon2_parallelism (argon2's rule)")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fleetdeck.db').resolve()}"

    @property
    def effective_offline_after(self) -> float:
        return self.offline_after_sec or self.heartbeat_sec * 2.5
