"""Command-line commands for certificates (canonicalize, digest, keys, DCC import/export)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the certificate commands to the ``tracecert`` application."""
