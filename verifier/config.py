"""The verifier's settings (env prefix ``TRACECERT_VERIFIER_``), read by the service, the CLI and ``tracecert up``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from web3 import Web3

from tracecert.chain.config import normalize_rpc_urls
from tracecert.verification.evidence import Policy

__all__ = ["VerifierSettings", "load_settings"]

logger = logging.getLogger(__name__)


def _split(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class VerifierSettings(BaseSettings):
    """Where the verifier finds the chain and documents, and its HTTP limits (env prefix ``TRACECERT_VERIFIER_``).

    ``rpc_url`` and ``data_dir`` fall back to the chain layer's ``TRACECERT_CHAIN_RPC_URL`` / ``TRACECERT_DATA_DIR``,
    and ``registry_urls`` to ``TRACECERT_REGISTRY_URL``, so a verifier started beside a registry finds both. Lists
    are comma-separated (or JSON) in the environment.
    """

    model_config = SettingsConfigDict(env_prefix="TRACECERT_VERIFIER_", extra="ignore", populate_by_name=True)

    rpc_url: str | None = Field(
        default=None, validation_alias=AliasChoices("TRACECERT_VERIFIER_RPC_URL", "TRACECERT_CHAIN_RPC_URL", "rpc_url")
    )
    data_dir: Path = Field(
        default=Path(".tracecert"),
        validation_alias=AliasChoices("TRACECERT_VERIFIER_DATA_DIR", "TRACECERT_DATA_DIR", "data_dir"),
    )
    #: The deployment file (default ``{data_dir}/deployment.json``).
    deployment_file: Path | None = None
    #: Without a deployment file: the CertificateRegistry address (its TrustRegistry is read from it).
    certificate_registry: str | None = None
    #: With ``certificate_registry``: the CreditRegistry address (nothing on chain points to it; without it the
    #: credit record is unknown). Its code must be TraceCert's, bound to the same TrustRegistry.
    credit_registry: str | None = None
    #: National authority addresses trusted as the root of a deployment; empty trusts the deployment file.
    trusted_authorities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Registries (or mirrors) asked for bundles; never trusted, only a place to find documents.
    registry_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TRACECERT_VERIFIER_REGISTRY_URLS", "TRACECERT_REGISTRY_URL", "registry_urls"),
    )
    registry_token: SecretStr | None = None
    #: A folder of ``*.json`` proof bundles (read when the verifier is built).
    bundles_dir: Path | None = None
    #: ``live`` asks the node for every check; ``index`` uses the verifier's own event index (verifier.index),
    #: kept up to date by a thread while the service runs. Unset: :func:`verifier.bootstrap.chain_view_of` decides.
    chain_view: Literal["live", "index"] | None = None
    #: The index's SQLite file (default ``{data_dir}/verifier-index.sqlite``) and seconds between its syncs.
    index_file: Path | None = None
    index_interval: float = Field(default=1.0, gt=0)
    #: Blocks a block needs, itself included, before the index takes it in (the chain layer's meaning): 1 takes
    #: the head (a local or instant-finality chain, e.g. QBFT); N leaves the newest N-1 blocks out, as the registry
    #: waits for N before it calls a batch anchored. Falls back to ``TRACECERT_CHAIN_CONFIRMATIONS``.
    confirmations: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices(
            "TRACECERT_VERIFIER_CONFIRMATIONS", "TRACECERT_CHAIN_CONFIRMATIONS", "confirmations"
        ),
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Upload rate limit per client address: tokens refilled per minute, bucket size; 0 disables it.
    rate_limit_per_minute: float = Field(default=60.0, ge=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    #: Take the client address from X-Forwarded-For (only behind a proxy you run).
    trust_forwarded_for: bool = False
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    #: Trust anchors (and CRLs) for signed DCCs (DCC_SIGNATURE): files or folders of PEM/DER certificates and CRLs,
    #: comma-separated (or JSON). Empty: a signed DCC's signature bytes are checked, its signer is not judged.
    dcc_trust_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    #: Traceability thresholds.
    tur: float = Field(default=4.0, gt=0)
    max_depth: int = Field(default=12, ge=1)
    max_anchor_lag_days: int = Field(default=14, ge=0)
    rpc_timeout: float = Field(default=10.0, gt=0)
    #: Verifications run at once in one process (default: 2 on the index, 8 on the index with registry URLs, 16 on
    #: a live node). Verification is Python work under the GIL: threads beyond the cores only queue for it, and each
    #: release (a SQLite read, a signature check) then costs a hand-over. Round trips to a node or a registry are
    #: waiting, not work: more threads.
    #: To use more cores, run more worker processes (``tracecert verifier serve --workers``).
    verify_threads: int | None = Field(default=None, ge=1)

    @field_validator("trusted_authorities", "registry_urls", "cors_allow_origins", "dcc_trust_dirs", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("rpc_url", mode="before")
    @classmethod
    def _rpc_urls(cls, value: Any) -> Any:
        # Several nodes of one chain, comma-separated (or JSON), kept as one string: ChainClient fails over.
        return normalize_rpc_urls(value)

    @field_validator("chain_view", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        # TRACECERT_VERIFIER_CHAIN_VIEW= (set, but empty) leaves the choice to the default, as an unset one does.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_authorities")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not Web3.is_address(address):
                raise ValueError(f"not an address: {address!r}")
        return [Web3.to_checksum_address(a) for a in value]

    @property
    def index_path(self) -> Path:
        """The index's database file."""
        return self.index_file or self.data_dir / "verifier-index.sqlite"

    @property
    def deployment_path(self) -> Path:
        """The deployment file to read."""
        return self.deployment_file or self.data_dir / "deployment.json"

    def policy(self) -> Policy:
        """The engine's thresholds, and the DCC trust store read from ``dcc_trust_dirs``.

        Raises:
            ValueError: a trust path does not exist or holds no certificate or CRL.
        """
        from decimal import Decimal

        from tracecert.certificate.dcc.signature import TrustStore

        return Policy(
            tur=Decimal(str(self.tur)),
            max_depth=self.max_depth,
            max_anchor_lag_days=self.max_anchor_lag_days,
            dcc_trust=TrustStore.load(self.dcc_trust_dirs) if self.dcc_trust_dirs else None,
        )


def load_settings() -> VerifierSettings:
    """Settings from the environment (tests pass their own to :func:`verifier.api.create_app` instead)."""
    return VerifierSettings()
