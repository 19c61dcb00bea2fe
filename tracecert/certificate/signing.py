"""Ed25519 lab keys: key ids, signatures over certificate digests, and passphrase-encrypted key files.

A signature is Ed25519 over the 32-byte certificate digest (already domain-separated). A key id is
SHA-256 of the raw 32-byte public key; the registry contract checks the same relation on chain.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from tracecert.certificate.canonical import DIGEST_SIZE, from_hex, parse_json, to_hex
from tracecert.certificate.errors import (
    KeyFileDecryptFailed,
    KeyFileInvalid,
    MalformedValue,
    SignatureInvalid,
)

__all__ = [
    "KEY_FILE_FORMAT",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "SigningKey",
    "generate_key",
    "key_file_json",
    "key_id",
    "load_key_file",
    "read_key_file_public",
    "save_key_file",
    "sign_digest",
    "signing_key_from_key_file_json",
    "verify_signature",
]

KEY_FILE_FORMAT = "tracecert-key/1"
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

# Bounds on KDF parameters read from a key file, so a crafted file cannot make us burn unbounded CPU/memory.
_MAX_OPSLIMIT = 64
_MAX_MEMLIMIT = 4 * 1024**3


class SigningKey:
    """A lab's Ed25519 signing key. Its ``repr``/``str`` show only the key id; the seed is never printed."""

    __slots__ = ("_key",)

    def __init__(self, key: nacl.signing.SigningKey) -> None:
        self._key = key

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Build a key from its 32-byte seed.

        Raises:
            MalformedValue: the seed is not 32 bytes.
        """
        if len(seed) != 32:
            raise MalformedValue("an Ed25519 seed is 32 bytes")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return bytes(self._key.verify_key)

    @property
    def key_id(self) -> bytes:
        """SHA-256 of the public key."""
        return key_id(self.public_key)

    def sign(self, digest: bytes) -> bytes:
        """Sign a 32-byte certificate digest; see :func:`sign_digest`."""
        return sign_digest(self, digest)

    def sign_message(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message`` as it is: for formats that define their own signed bytes
        (a W3C Data Integrity proof, an XML signature's SignedInfo). A certificate is signed with :meth:`sign`,
        over its domain-separated digest, never through this."""
        return bytes(self._key.sign(message).signature)

    def _seed(self) -> bytes:
        return bytes(self._key)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={to_hex(self.key_id)})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("SigningKey is not picklable; store it with save_key_file")


def generate_key() -> SigningKey:
    """Generate a new random Ed25519 signing key."""
    return SigningKey(nacl.signing.SigningKey.generate())


def key_id(public_key: bytes) -> bytes:
    """Return the key id, SHA-256 of the raw 32-byte Ed25519 public key.

    Raises:
        MalformedValue: the public key is not 32 bytes.
    """
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise MalformedValue(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    return hashlib.sha256(public_key).digest()


def sign_digest(signing_key: SigningKey, digest: bytes) -> bytes:
    """Return the 64-byte Ed25519 signature over a 32-byte certificate digest.

    Raises:
        MalformedValue: the digest is not 32 bytes.
    """
    if len(digest) != DIGEST_SIZE:
        raise MalformedValue(f"a certificate digest is {DIGEST_SIZE} bytes, got {len(digest)}")
    return signing_key._key.sign(digest).signature


def verify_signature(public_key: bytes, digest: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature over a 32-byte digest; return nothing on success.

    Raises:
        SignatureInvalid: the signature does not verify, or the key, digest or signature has the wrong size
            or the public key is not a valid curve point.
    """
    if len(public_key) != PUBLIC_KEY_SIZE or len(digest) != DIGEST_SIZE or len(signature) != SIGNATURE_SIZE:
        raise SignatureInvalid("public key, digest or signature has the wrong length")
    try:
        nacl.signing.VerifyKey(public_key).verify(digest, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError) as e:
        raise SignatureInvalid("Ed25519 signature does not verify") from e


# --- key files ----------------------------------------------------------------------------------------------


def key_file_json(
    signing_key: SigningKey,
    passphrase: bytes,
    *,
    opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
) -> dict[str, Any]:
    """Return the key file object: public key and key id in clear, the seed encrypted with SecretBox
    (XSalsa20-Poly1305) under a key derived from ``passphrase`` by Argon2id (salt and limits stored).

    Raises:
        KeyFileInvalid: the passphrase is empty.
    """
    if not passphrase:
        raise KeyFileInvalid("a key file passphrase must not be empty")
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box_key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    ciphertext = bytes(nacl.secret.SecretBox(box_key).encrypt(signing_key._seed()))
    return {
        "format": KEY_FILE_FORMAT,
        "alg": "Ed25519",
        "public_key": to_hex(signing_key.public_key),
        "key_id": to_hex(signing_key.key_id),
        "kdf": {"alg": "argon2id", "salt": to_hex(salt), "opslimit": opslimit, "memlimit": memlimit},
        "cipher": {"alg": "xsalsa20poly1305", "ciphertext": to_hex(ciphertext)},
    }


def save_key_file(
    signing_key: SigningKey,
    path: str | os.PathLike[str],
    passphrase: bytes,
    *,
    opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
) -> None:
    """Write an encrypted key file (mode 0600), refusing to overwrite an existing file.

    Raises:
        KeyFileInvalid: empty passphrase.
        FileExistsError: ``path`` already exists.
    """
    doc = key_file_json(signing_key, passphrase, opslimit=opslimit, memlimit=memlimit)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def _read_doc(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    try:
        doc = parse_json(Path(path).read_bytes())
    except (OSError, ValueError) as e:  # ValueError: CanonicalizationFailed (not JSON, too deep)
        raise KeyFileInvalid(f"cannot read key file: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
        raise KeyFileInvalid(f"not a {KEY_FILE_FORMAT} key file")
    return doc


def _public_part(doc: Mapping[str, Any]) -> tuple[bytes, bytes]:
    try:
        public_key = from_hex(doc["public_key"], PUBLIC_KEY_SIZE)
        kid = from_hex(doc["key_id"], DIGEST_SIZE)
    except (KeyError, MalformedValue) as e:
        raise KeyFileInvalid("key file lacks a valid public_key/key_id") from e
    if key_id(public_key) != kid:
        raise KeyFileInvalid("key file's key_id is not SHA-256 of its public_key")
    return public_key, kid


def read_key_file_public(path: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """Return ``(public_key, key_id)`` from a key file without decrypting it.

    Raises:
        KeyFileInvalid: unreadable, wrong format, or key id not matching the public key.
    """
    return _public_part(_read_doc(path))


def signing_key_from_key_file_json(doc: Mapping[str, Any], passphrase: bytes) -> SigningKey:
    """Decrypt a key file object (see :func:`key_file_json`).

    Raises:
        KeyFileDecryptFailed: wrong passphrase, or the ciphertext was altered.
        KeyFileInvalid: malformed file, KDF limits out of bounds, or the decrypted key does not match the
            stated public key.
    """
    public_key, _ = _public_part(doc)
    try:
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["alg"] != "argon2id" or cipher["alg"] != "xsalsa20poly1305":
            raise KeyFileInvalid("unsupported kdf or cipher")
        salt = from_hex(kdf["salt"], nacl.pwhash.argon2id.SALTBYTES)
        opslimit, memlimit = kdf["opslimit"], kdf["memlimit"]
        ciphertext = from_hex(cipher["ciphertext"], None)
    except (KeyError, TypeError, MalformedValue) as e:
        raise KeyFileInvalid("key file is malformed") from e
    if not (
        isinstance(opslimit, int)
        and isinstance(memlimit, int)
        and nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= _MAX_OPSLIMIT
        and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= _MAX_MEMLIMIT
    ):
        raise KeyFileInvalid("key file KDF limits are out of bounds")
    box_key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )
    try:
        seed = nacl.secret.SecretBox(box_key).decrypt(ciphertext)
    except nacl.exceptions.CryptoError as e:
        raise KeyFileDecryptFailed("cannot decrypt the key file: wrong passphrase or altered file") from e
    key = SigningKey.from_seed(seed) if len(seed) == 32 else None
    if key is None or key.public_key != public_key:
        raise KeyFileInvalid("decrypted secret key does not match the key file's public key")
    return key


def load_key_file(path: str | os.PathLike[str], passphrase: bytes) -> SigningKey:
    """Read and decrypt a key file written by :func:`save_key_file`.

    Raises:
        KeyFileDecryptFailed: wrong passphrase, or the ciphertext was altered.
        KeyFileInvalid: unreadable or malformed file, or its parts do not agree.
    """
    return signing_key_from_key_file_json(_read_doc(path), passphrase)
