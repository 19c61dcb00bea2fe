"""TraceCert registry service."""
