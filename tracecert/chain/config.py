"""Settings of the chain layer (env prefix ``TRACECERT_CHAIN_``; the data directory is ``TRACECERT_DATA_DIR``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ChainSettings", "normalize_rpc_urls", "split_urls"]


def split_urls(urls: str | Sequence[str]) -> list[str]:
    """The URLs of ``urls``: a sequence, or one string separated by commas (blanks around them ignored).

    Raises:
        ValueError: no URL, or one that is not ``http(s)://``.
    """
    parts = urls.split(",") if isinstance(urls, str) else list(urls)
    found = [part.strip() for part in parts if part.strip()]
    if not found:
        raise ValueError("no JSON-RPC URL given")
    for url in found:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) JSON-RPC URL: {url!r}")
    return found


def normalize_rpc_urls(value: Any) -> Any:
    """An ``rpc_url`` setting as one string of comma-separated URLs (a list, or JSON list text, is joined); blank is
    unset (None). Anything else is left to the field's own validation.

    Raises:
        ValueError: an item is not an ``http(s)://`` URL.
    """
    if isinstance(value, str) and value.strip().startswith("["):
        value = json.loads(value)
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    if isinstance(value, str):
        return ",".join(split_urls(value)) if value.strip(" ,") else None
    return value


class ChainSettings(BaseSettings):
    """Where the chain is and how transactions are confirmed.

    With ``rpc_url`` unset, TraceCert starts and manages a local Anvil node whose state lives in ``data_dir``.
    In production, point ``rpc_url`` at any EVM JSON-RPC node (e.g. a Besu QBFT network); several nodes of one
    network are given separated by commas (``TRACECERT_CHAIN_RPC_URL=http://a:8545,http://b:8545``, or a JSON list),
    used one at a time with failover (:class:`~tracecert.chain.client.ChainClient`). ``rpc_url`` keeps them as one
    comma-separated string, so that anything passing it on passes them all; :attr:`rpc_urls` lists them.
    """

    model_config = SettingsConfigDict(env_prefix="TRACECERT_CHAIN_", extra="ignore")

    rpc_url: str | None = None
    data_dir: Path = Field(default=Path(".tracecert"), validation_alias=AliasChoices("TRACECERT_DATA_DIR", "data_dir"))
    #: Blocks on top of the receipt's block before a transaction counts as final (QBFT: 1 is final).
    confirmations: int = Field(default=1, ge=1)
    receipt_timeout: float = Field(default=120.0, gt=0)
    poll_interval: float = Field(default=0.05, gt=0)
    #: Local node only.
    anvil_host: str = "127.0.0.1"
    anvil_port: int = 8545
    chain_id: int = 31337
    #: Seconds between blocks for the local node; None mines each transaction at once.
    block_time: float | None = None

    @field_validator("rpc_url", mode="before")
    @classmethod
    def _rpc_urls(cls, value: Any) -> Any:
        return normalize_rpc_urls(value)

    @property
    def rpc_urls(self) -> list[str]:
        """The configured JSON-RPC URLs, in order of preference (empty: a local node)."""
        return split_urls(self.rpc_url) if self.rpc_url else []

    @property
    def deployment_file(self) -> Path:
        """Deployed addresses and chain id of this installation."""
        return self.data_dir / "deployment.json"
