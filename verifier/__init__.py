"""TraceCert verifier service."""
