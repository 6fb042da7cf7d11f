"""The ``advex`` command line: one module per subcommand group, registered here.

Each module in ``COMMAND_MODULES`` defines ``register(app)``. User-facing errors
(:class:`advex.errors.AdvexError`) print one clear line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click
import typer

from advex.errors import AdvexError

COMMAND_MODULES: list[str] = []

app = typer.Typer(
    name="advex",
    help="Concise explanations via adversarial training (Chalasani et al., ICML 2020).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"advex.cli.{_name}").register(app)


def main() -> None:
    """Console entry point: run the app, turning AdvexError into a one-line message."""
    try:
        app(standalone_mode=False)
    except AdvexError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
