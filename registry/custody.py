"""Keys the registry holds for labs (writer accounts; Ed25519 keys in registry-signing mode), sealed at rest.

Sealing is XSalsa20-Poly1305 (PyNaCl SecretBox) under a key derived from the registry's key-custody secret with
BLAKE2b; the associated key id is bound into the derivation so a sealed blob cannot be swapped between rows.
"""

from __future__ import annotations

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret
from eth_account import Account
from eth_account.signers.local import LocalAccount

from registry.errors import RegistryError
from tracecert.certificate.signing import SigningKey

__all__ = ["Custody", "CustodyError"]


class CustodyError(RegistryError):
    """A sealed key cannot be opened (wrong secret, or tampered): a :class:`~registry.errors.RegistryError`."""

    code = "CUSTODY_ERROR"


class Custody:
    """Seals and opens held keys with the registry's secret. Never logs or returns a secret in text."""

    def __init__(self, secret: bytes) -> None:
        self._root = nacl.hash.blake2b(
            secret, digest_size=32, person=b"tracecert-cstdy", encoder=nacl.encoding.RawEncoder
        )

    def __repr__(self) -> str:
        return "Custody(<sealed>)"

    def _box(self, key_id: str) -> nacl.secret.SecretBox:
        key = nacl.hash.blake2b(key_id.encode(), key=self._root, digest_size=32, encoder=nacl.encoding.RawEncoder)
        return nacl.secret.SecretBox(key)

    def seal(self, key_id: str, secret: bytes) -> bytes:
        """Encrypt ``secret`` for the row ``key_id``."""
        return bytes(self._box(key_id).encrypt(secret))

    def open(self, key_id: str, sealed: bytes) -> bytes:
        """Decrypt a sealed secret.

        Raises:
            CustodyError: wrong custody secret or tampered blob.
        """
        try:
            return bytes(self._box(key_id).decrypt(sealed))
        except nacl.exceptions.CryptoError as exc:
            raise CustodyError(f"cannot open the held key {key_id} (wrong custody secret?)") from exc

    def new_account(self) -> tuple[LocalAccount, bytes]:
        """A new Ethereum account and its sealed private key."""
        account: LocalAccount = Account.create()
        return account, self.seal(account.address, bytes(account.key))

    def open_account(self, address: str, sealed: bytes) -> LocalAccount:
        """The held Ethereum account of ``address``."""
        account: LocalAccount = Account.from_key(self.open(address, sealed))
        if account.address != address:
            raise CustodyError(f"held key does not match {address}")
        return account

    def open_signing_key(self, key_id_hex: str, sealed: bytes) -> SigningKey:
        """The held Ed25519 key of ``key_id_hex``."""
        key = SigningKey.from_seed(self.open(key_id_hex, sealed))
        if "0x" + key.key_id.hex() != key_id_hex:
            raise CustodyError(f"held key does not match {key_id_hex}")
        return key
