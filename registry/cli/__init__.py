"""Command line of the registry: onboarding (``tracecert regulator|lab ...``), issuing (``tracecert issue``,
``publish``, ``revoke``, ``status``) and running it (``tracecert registry serve|worker``).

Onboarding commands act on the chain with an account: a development account of the data directory
(``--as ROLE``, e.g. ``national-authority``, ``regulator-330000``, ``lab-admin-<code>``; local chain only) or an
encrypted keystore (``--keystore FILE``, passphrase from ``$TRACECERT_KEYSTORE_PASSPHRASE``). ``lab onboard`` and
``lab token`` also open the registry's database and key custody, so they run where the registry runs.
Issuing commands talk to the registry's HTTP API with a lab's token.

The commands live in a module per audience: :mod:`~registry.cli.regulator`, :mod:`~registry.cli.lab`,
:mod:`~registry.cli.operator` (enterprises' commands will have theirs); what they share, with the one error
reporter, is in :mod:`~registry.cli.common`. :func:`register` assembles them into the ``tracecert`` application.

Errors go to stderr as ``error CODE: message``; exit code 1 for refusals and failures, 2 for usage errors.
"""

from __future__ import annotations

import typer

from registry.cli import credit, draws, enterprise, evidence, lab, operator, oversight, regulator
from registry.cli.common import CliError, reporting_errors

__all__ = ["CliError", "register", "reporting_errors"]


def register(root: typer.Typer) -> None:
    """Add the registry's commands to the ``tracecert`` application (in the order ``--help`` lists them)."""
    regulators = typer.Typer(help="Regulators: register them on chain, give them API tokens.", no_args_is_help=True)
    regulators.command("register")(regulator.regulator_register)
    regulators.command("token")(regulator.regulator_token)

    labs = typer.Typer(
        help="Labs: register and authorize on chain, onboard with the registry, tokens.", no_args_is_help=True
    )
    labs.command("register")(regulator.lab_register)
    labs.command("authorize")(regulator.lab_authorize)
    labs.command("onboard")(operator.lab_onboard)
    labs.command("suspend")(regulator.lab_suspend)
    labs.command("reinstate")(regulator.lab_reinstate)
    labs.command("show")(regulator.lab_show)
    tokens = typer.Typer(help="A lab's API tokens.", no_args_is_help=True)
    tokens.command("issue")(operator.token_issue)
    tokens.command("revoke")(operator.token_revoke)
    tokens.command("list")(operator.token_list)
    labs.add_typer(tokens, name="token")

    credits = typer.Typer(
        help="The credit record (计量信用记录 / 失信黑名单) of labs and enterprises: record, lift, show.",
        no_args_is_help=True,
    )
    credits.command("record")(credit.credit_record)
    credits.command("lift")(credit.credit_lift)
    credits.command("show")(credit.credit_show)

    drawing = typer.Typer(
        help="Random inspection draws (双随机): commit, draw from the next block's hash, re-run any published draw.",
        no_args_is_help=True,
    )
    drawing.command("run")(draws.draw_run)
    drawing.command("verify")(draws.draw_verify)
    drawing.command("publish")(draws.draw_publish)

    evidencing = typer.Typer(
        help="Evidence packages for a case: build one signed file, check it offline.", no_args_is_help=True
    )
    evidencing.command("build")(evidence.evidence_build)
    evidencing.command("verify")(evidence.evidence_verify)

    enterprises = typer.Typer(
        help="Enterprises: register (itself, or onboarded by a regulator), confirm, the regulator's queue.",
        no_args_is_help=True,
    )
    enterprises.command("register")(enterprise.register)
    enterprises.command("confirm")(enterprise.confirm)
    enterprises.command("pending")(enterprise.pending)
    instruments = typer.Typer(
        help="An enterprise's instrument register (强检器具备案): import a CSV/Excel/JSON table, list with due dates.",
        no_args_is_help=True,
    )
    instruments.command("import")(enterprise.import_register)
    instruments.command("list")(enterprise.list_register)
    instruments.command("site")(enterprise.change_site)

    running = typer.Typer(
        help="Run the registry: the HTTP API (with the anchoring worker) or the worker alone.", no_args_is_help=True
    )
    running.command("serve")(operator.registry_serve)
    running.command("worker")(operator.registry_worker)

    root.add_typer(regulators, name="regulator")
    root.add_typer(labs, name="lab")
    root.add_typer(credits, name="credit")
    root.add_typer(drawing, name="draw")
    root.add_typer(evidencing, name="evidence")
    root.add_typer(enterprises, name="enterprise")
    root.add_typer(instruments, name="instruments")
    root.command("coverage")(enterprise.coverage)
    root.command("watch")(enterprise.watch)
    root.command("webhook")(enterprise.webhook)
    root.command("alerts")(enterprise.alerts)
    root.command("impact")(oversight.impact)
    root.command("scan")(oversight.scan)
    root.command("signals")(oversight.signals)
    root.command("issue")(lab.issue)
    root.command("publish")(lab.publish)
    root.command("revoke")(lab.revoke)
    root.command("status")(lab.status)
    root.add_typer(running, name="registry")
