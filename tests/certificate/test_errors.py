"""The error tree: every leaf has its own stable code, and errors render as code + message + fields."""

from __future__ import annotations

from tracecert.certificate import errors
from tracecert.certificate.errors import CertificateError, FieldError, RecordInvalid

EXPECTED_CODES = {
    "RecordInvalid": "RECORD_INVALID",
    "CanonicalizationFailed": "CANONICALIZATION_FAILED",
    "MalformedValue": "MALFORMED_VALUE",
    "SignatureInvalid": "SIGNATURE_INVALID",
    "KeyIdMismatch": "KEY_ID_MISMATCH",
    "KeyFileInvalid": "KEY_FILE_INVALID",
    "KeyFileDecryptFailed": "KEY_FILE_DECRYPT_FAILED",
    "ProofInvalid": "PROOF_INVALID",
    "BundleInvalid": "BUNDLE_INVALID",
    "DigestMismatch": "DIGEST_MISMATCH",
    "XmlUnsafe": "XML_UNSAFE",
    "DccTooLarge": "DCC_TOO_LARGE",
    "XmlMalformed": "XML_MALFORMED",
    "DccWrongRoot": "DCC_WRONG_ROOT",
    "DccSchemaUnsupported": "DCC_SCHEMA_UNSUPPORTED",
    "DccInvalid": "DCC_INVALID",
    "DccIncomplete": "DCC_INCOMPLETE",
}


def test_codes_are_stable_and_unique() -> None:
    leaves = {
        name: getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), CertificateError)
    }
    assert {n: c.code for n, c in leaves.items() if n in EXPECTED_CODES} == EXPECTED_CODES
    codes = [c.code for c in leaves.values()]
    assert len(codes) == len(set(codes))
    for name in EXPECTED_CODES:
        assert name in (errors.__doc__ or ""), f"{name} is missing from the tree in the module docstring"


def test_error_rendering() -> None:
    e = RecordInvalid("certificate record is invalid", [FieldError("dates.valid_until", "required_for_kind", "m")])
    assert isinstance(e, ValueError)
    assert e.to_dict() == {
        "code": "RECORD_INVALID",
        "message": "certificate record is invalid",
        "errors": [{"field": "dates.valid_until", "rule": "required_for_kind", "message": "m"}],
    }
    assert "dates.valid_until" in str(e)
