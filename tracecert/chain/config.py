"""Settings of the chain layer (env prefix ``TRACECERT_CHAIN_``; the data directory is ``TRACECERT_DATA_DIR``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ChainSettings"]


class ChainSettings(BaseSettings):
    """Where the chain is and how transactions are confirmed.

    With ``rpc_url`` unset, TraceCert starts and manages a local Anvil node whose state lives in ``data_dir``.
    In production, point ``rpc_url`` at any EVM JSON-RPC node (e.g. a Besu QBFT network).
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

    @property
    def deployment_file(self) -> Path:
        """Deployed addresses and chain id of this installation."""
        return self.data_dir / "deployment.json"
