"""Settings of the registry service (env prefix ``TRACECERT_REGISTRY_``), read through :func:`load_settings`."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tracecert.chain.config import ChainSettings

__all__ = ["RegistrySettings", "ensure_local_secret", "load_settings"]

_MIN_SECRET = 32


class RegistrySettings(BaseSettings):
    """How the registry runs: database, key custody secret, limits, batching, public URLs.

    ``secret`` encrypts the keys the registry holds for labs (writer accounts, and Ed25519 keys in registry-signing
    mode). It has no default: set ``TRACECERT_REGISTRY_SECRET`` (≥ 32 characters) or ``..._SECRET_FILE``;
    ``tracecert up`` generates one in the data directory for the local system.
    """

    model_config = SettingsConfigDict(env_prefix="TRACECERT_REGISTRY_", extra="ignore")

    data_dir: Path = Field(default=Path(".tracecert"), validation_alias=AliasChoices("TRACECERT_DATA_DIR", "data_dir"))
    database_url: str | None = None
    secret: SecretStr | None = None
    secret_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: Where the verifier's page lives; QR codes point there.
    verifier_url: str = "http://127.0.0.1:8001"
    #: The registry's own public address (what a site's 公示 QR code and poster carry); None: the address a request
    #: reached it at (behind a proxy or printed from an internal address, set it).
    public_url: str | None = None
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_document_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    bulk_max: int = Field(default=1000, ge=1, le=10_000)
    batch_max_size: int = Field(default=1024, ge=1, le=65_536)
    #: Longest a pending certificate waits before its batch is anchored (at most 2 s).
    batch_window_seconds: float = Field(default=1.0, gt=0, le=2.0)
    #: Batches in flight at once: a batch is made and sent as soon as it is due and fewer than this many wait for
    #: their confirmations; their transactions are signed in nonce order, so that under a block time several
    #: batches land in one block rather than one batch per confirmation wait (2 s blocks and 2 confirmations: one
    #: batch every 4-6 s with 1).
    anchor_concurrency: int = Field(default=16, ge=1, le=64)
    #: How much lower the CPU priority of the API processes of ``tracecert registry serve --workers N`` is than
    #: the anchoring worker's (``os.nice``; one process serving both keeps its own): under more load than the cores
    #: take, the machine anchors what it has accepted before it accepts more, so acceptance slows down (the clients
    #: wait) rather than the accepted certificates' anchoring. 0 leaves every process at the same priority.
    #: Measured with the registry benchmark (three runs each, alternated, 2 cores): 3 kept the p99 from acceptance
    #: to anchored at 1.03-1.06 s against 1.70-2.25 s at 0, at the same rate (3,316 against 3,321 anchored/s on
    #: average).
    api_niceness: int = Field(default=3, ge=0, le=19)
    #: How long an on-chain authorization answer is reused when accepting certificates.
    authorization_cache_seconds: float = Field(default=5.0, ge=0)
    #: Incremental anomaly scans (registry.scans): at most one per lab every this many seconds, after an anchoring,
    #: over the certificates issued in the last ``scan_window_days`` days.
    scan_interval_seconds: float = Field(default=60.0, ge=0)
    scan_window_days: int = Field(default=30, ge=1, le=3650)
    #: Alerts (registry.alerts): how often the worker looks for certificates about to expire and labs suspended
    #: or sanctioned on chain; how many days before expiry it tells; webhook delivery.
    alert_scan_interval_seconds: float = Field(default=60.0, ge=0)
    alert_expiry_days: int = Field(default=30, ge=1, le=365)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=20, ge=1, le=100)
    #: Let webhooks point at loopback or private addresses (a local receiver in development); refused otherwise.
    webhook_allow_private: bool = False
    run_worker: bool = True
    #: Trust anchors (and CRLs) for signed DCCs: files or folders of PEM/DER certificates and CRLs, comma-separated
    #: (or JSON) in the environment. An uploaded DCC with a ``ds:Signature`` must verify and chain to one of them
    #: (:func:`registry.admission.check_document`); empty: signed DCCs are refused (DCC_SIGNER_UNTRUSTED).
    dcc_trust_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    chain: ChainSettings = Field(default_factory=ChainSettings)

    @field_validator("secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < _MIN_SECRET:
            raise ValueError(f"TRACECERT_REGISTRY_SECRET must have at least {_MIN_SECRET} characters")
        return value

    @field_validator("dcc_trust_dirs", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def database(self) -> str:
        """The SQLAlchemy URL (SQLite in the data directory by default)."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.db').resolve()}"

    def secret_bytes(self) -> bytes:
        """The key-custody secret.

        Raises:
            ValueError: no secret configured, or the secret file is unreadable or too short.
        """
        if self.secret is not None:
            return self.secret.get_secret_value().encode("utf-8")
        if self.secret_file is not None:
            value = self.secret_file.read_text(encoding="utf-8").strip()
            if len(value) < _MIN_SECRET:
                raise ValueError(f"{self.secret_file}: the secret must have at least {_MIN_SECRET} characters")
            return value.encode("utf-8")
        raise ValueError("no key-custody secret: set TRACECERT_REGISTRY_SECRET or TRACECERT_REGISTRY_SECRET_FILE")


def ensure_local_secret(data_dir: Path) -> Path:
    """Create (once) a random key-custody secret for a local installation, mode 0600; return its path."""
    path = Path(data_dir) / "keys" / "registry-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(48))
    return path


def load_settings(**overrides: object) -> RegistrySettings:
    """Settings from the environment, with explicit overrides (tests and the CLI pass them)."""
    return RegistrySettings(**overrides)  # type: ignore[arg-type]
