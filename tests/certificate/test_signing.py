"""Ed25519 keys, key ids, signatures over digests, and encrypted key files."""

from __future__ import annotations

import hashlib
import json
import pickle
import stat
from pathlib import Path

import nacl.pwhash
import pytest

from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.errors import (
    KeyFileDecryptFailed,
    KeyFileInvalid,
    MalformedValue,
    SignatureInvalid,
)
from tracecert.certificate.signing import (
    SigningKey,
    generate_key,
    key_file_json,
    key_id,
    load_key_file,
    read_key_file_public,
    save_key_file,
    sign_digest,
    signing_key_from_key_file_json,
    verify_signature,
)

FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
DIGEST = hashlib.sha256(b"a certificate").digest()

# RFC 8032 §7.1, TEST 1: secret key (seed) and the public key derived from it.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def _flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]


def test_rfc8032_public_key_and_key_id() -> None:
    key = SigningKey.from_seed(RFC8032_SEED)
    assert key.public_key == RFC8032_PUBLIC
    assert key.key_id == key_id(RFC8032_PUBLIC) == hashlib.sha256(RFC8032_PUBLIC).digest()


def test_sign_and_verify() -> None:
    key = generate_key()
    signature = sign_digest(key, DIGEST)
    assert len(signature) == 64
    assert key.sign(DIGEST) == signature  # Ed25519 is deterministic
    verify_signature(key.public_key, DIGEST, signature)


@pytest.mark.parametrize(
    "case",
    ["flipped signature", "flipped last signature byte", "flipped digest", "other key", "short signature",
     "short digest", "short public key", "not a curve point"],
)  # fmt: skip
def test_bad_signatures_fail(case: str) -> None:
    key = generate_key()
    public, digest, signature = key.public_key, DIGEST, sign_digest(key, DIGEST)
    if case == "flipped signature":
        signature = _flip(signature)
    elif case == "flipped last signature byte":
        signature = _flip(signature, 63)
    elif case == "flipped digest":
        digest = _flip(digest, 31)
    elif case == "other key":
        public = generate_key().public_key
    elif case == "short signature":
        signature = signature[:63]
    elif case == "short digest":
        digest = digest[:31]
    elif case == "short public key":
        public = public[:31]
    else:
        public = b"\xff" * 32
    with pytest.raises(SignatureInvalid) as e:
        verify_signature(public, digest, signature)
    assert e.value.code == "SIGNATURE_INVALID"


def test_sign_refuses_wrong_digest_length() -> None:
    with pytest.raises(MalformedValue):
        sign_digest(generate_key(), b"x" * 33)
    with pytest.raises(MalformedValue):
        key_id(b"x" * 31)


def test_secret_never_in_repr_or_str() -> None:
    key = SigningKey.from_seed(RFC8032_SEED)
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert RFC8032_SEED.hex() not in text.lower()
        assert to_hex(key.key_id) in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_key_file_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "lab.key"
    save_key_file(key, path, b"correct horse", **FAST)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert key._seed().hex() not in text and "correct horse" not in text
    doc = json.loads(text)
    assert doc["format"] == "tracecert-key/1"
    assert from_hex(doc["public_key"]) == key.public_key
    assert read_key_file_public(path) == (key.public_key, key.key_id)
    loaded = load_key_file(path, b"correct horse")
    assert loaded.public_key == key.public_key
    verify_signature(key.public_key, DIGEST, loaded.sign(DIGEST))


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "lab.key"
    save_key_file(generate_key(), path, b"pw", **FAST)
    with pytest.raises(FileExistsError):
        save_key_file(generate_key(), path, b"pw", **FAST)


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "lab.key"
    save_key_file(generate_key(), path, b"right", **FAST)
    with pytest.raises(KeyFileDecryptFailed) as e:
        load_key_file(path, b"wrong")
    assert e.value.code == "KEY_FILE_DECRYPT_FAILED"
    assert "right" not in str(e.value)


def _tamper(doc: dict, case: str) -> None:
    if case == "ciphertext":
        doc["cipher"]["ciphertext"] = to_hex(_flip(from_hex(doc["cipher"]["ciphertext"], None), 20))
    elif case == "salt":
        doc["kdf"]["salt"] = to_hex(_flip(from_hex(doc["kdf"]["salt"], 16)))
    elif case == "public key swapped":
        other = generate_key()
        doc["public_key"], doc["key_id"] = to_hex(other.public_key), to_hex(other.key_id)
    elif case == "key id":
        doc["key_id"] = to_hex(_flip(from_hex(doc["key_id"])))
    elif case == "memlimit too large":
        doc["kdf"]["memlimit"] = 2**40
    elif case == "opslimit not int":
        doc["kdf"]["opslimit"] = "3"
    elif case == "cipher":
        doc["cipher"]["alg"] = "aes"
    elif case == "no kdf":
        del doc["kdf"]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("ciphertext", "KEY_FILE_DECRYPT_FAILED"),  # Poly1305 catches any altered byte
        ("salt", "KEY_FILE_DECRYPT_FAILED"),  # another box key
        ("public key swapped", "KEY_FILE_INVALID"),  # decrypted seed does not give the stated key
        ("key id", "KEY_FILE_INVALID"),
        ("memlimit too large", "KEY_FILE_INVALID"),  # a crafted file cannot make us allocate 1 TiB
        ("opslimit not int", "KEY_FILE_INVALID"),
        ("cipher", "KEY_FILE_INVALID"),
        ("no kdf", "KEY_FILE_INVALID"),
    ],
)
def test_tampered_key_files(case: str, code: str) -> None:
    doc = key_file_json(generate_key(), b"pw", **FAST)
    _tamper(doc, case)
    with pytest.raises(KeyFileInvalid) as e:
        signing_key_from_key_file_json(doc, b"pw")
    assert e.value.code == code


@pytest.mark.parametrize("content", ["not json", "[]", '{"format": "pem"}', '{"format": "tracecert-key/1"}'])
def test_unreadable_key_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content)
    with pytest.raises(KeyFileInvalid) as e:
        load_key_file(path, b"pw")
    assert e.value.code == "KEY_FILE_INVALID"


def test_empty_passphrase_refused() -> None:
    with pytest.raises(KeyFileInvalid):
        key_file_json(generate_key(), b"", **FAST)
