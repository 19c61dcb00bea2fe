"""Command line of the registry: onboarding (``tracecert regulator|lab ...``), issuing (``tracecert issue``,
``publish``, ``revoke``, ``status``) and running it (``tracecert registry serve|worker``).

Onboarding commands act on the chain with an account: a development account of the data directory
(``--as ROLE``, e.g. ``national-authority``, ``regulator-330000``, ``lab-admin-<code>``; local chain only) or an
encrypted keystore (``--keystore FILE``, passphrase from ``$TRACECERT_KEYSTORE_PASSPHRASE``). ``lab onboard`` and
``lab token`` also open the registry's database and key custody, so they run where the registry runs.
Issuing commands talk to the registry's HTTP API with a lab's token.

Modules by audience: :mod:`~registry.cli.regulator`, :mod:`~registry.cli.lab`, :mod:`~registry.cli.operator`
(enterprises' commands will have theirs); what they share is in :mod:`~registry.cli.common`.

Errors go to stderr as ``error CODE: message``; exit code 1 for refusals and failures, 2 for usage errors.
"""

from __future__ import annotations

import typer

from registry.cli.common import CliError, reporting_errors
from registry.cli.lab import issue, publish, revoke, status
from registry.cli.operator import registry_app
from registry.cli.regulator import lab_app, regulator_app

__all__ = ["CliError", "register", "reporting_errors"]


def register(root: typer.Typer) -> None:
    """Add the registry's commands to the ``tracecert`` application."""
    root.add_typer(regulator_app, name="regulator")
    root.add_typer(lab_app, name="lab")
    root.command("issue")(issue)
    root.command("publish")(publish)
    root.command("revoke")(revoke)
    root.command("status")(status)
    root.add_typer(registry_app, name="registry")
