"""The certificate: one definition (model, canonical form, digest, signature, Merkle rules) for everyone."""
