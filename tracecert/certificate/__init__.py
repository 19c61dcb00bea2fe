"""The certificate: one definition (model, canonical form, digest, signature, Merkle rules) for everyone.

- :mod:`~tracecert.certificate.model`: the record (``CertificateRecord``, ``record_from_json``) and kind rules.
- :mod:`~tracecert.certificate.canonical`: RFC 8785 canonical JSON, ``certificate_digest``, ``lab_id``.
- :mod:`~tracecert.certificate.signing`: Ed25519 keys, ``key_id``, signatures, encrypted key files.
- :mod:`~tracecert.certificate.merkle`: RFC 6962 roots, inclusion proofs, ``build_batch``.
- :mod:`~tracecert.certificate.bundle`: the ``tracecert-bundle/1`` proof bundle and ``verify_bundle_offline``.
- :mod:`~tracecert.certificate.dcc`: PTB DCC XML import and export.
- :mod:`~tracecert.certificate.errors`: ``CertificateError`` and its leaves, each with a machine ``code``.

The rules are written down in ``docs/bundle.md``.
"""

__all__: list[str] = []
