"""The ``tracecert`` command line: one entry point for labs, enterprises, regulators and operators."""

from __future__ import annotations

import typer

from registry import cli as registry_cli
from tracecert.certificate import cli as certificate_cli
from tracecert.chain import cli as chain_cli
from tracecert_app import up as up_cli
from verifier import cli as verifier_cli

app = typer.Typer(
    name="tracecert",
    help="TraceCert: trusted calibration and verification certificates, anchored on a permissioned EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

certificate_cli.register(app)
chain_cli.register(app)
registry_cli.register(app)
up_cli.register(app)
verifier_cli.register(app)


def main() -> None:
    """Run the ``tracecert`` command line."""
    app()


if __name__ == "__main__":
    main()
