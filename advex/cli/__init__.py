"""The ``advex`` command line: one module per subcommand group, registered here.

Each module in ``COMMAND_MODULES`` defines ``register(app)``. User-facing errors
(:class:`advex.errors.AdvexError`) print one clear line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.exceptions import TyperException

from advex.errors import AdvexError

COMMAND_MODULES: list[str] = ["table1", "ablate", "train", "data", "theory", "evaluate", "zoo", "sweep", "beyond", "figures"]
# Options that take several space-separated values (``--datasets mushroom spambase``).
MULTI_VALUE_OPTIONS = {"--datasets", "--methods", "--references", "--outputs", "--attack", "--measures", "--ground-truth-eps"}

app = typer.Typer(
    name="advex",
    help="Concise explanations via adversarial training (Chalasani et al., ICML 2020).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"advex.cli.{_name}").register(app)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Rewrite ``--datasets a b`` as ``--datasets a --datasets b`` (click options take one value per flag)."""
    expanded: list[str] = []
    option = None
    for token in argv:
        if token in MULTI_VALUE_OPTIONS:
            option = token
            continue
        if option and (not token.startswith("-") or _is_number(token)):  # "-1" is a value, not an option
            expanded += [option, token]
            continue
        option = None
        expanded.append(token)
    return expanded


def main(argv: list[str] | None = None) -> None:
    """Console entry point: a usage error or an AdvexError becomes one red line and exit status 2, never a traceback."""
    args = expand_multi_value_options(sys.argv[1:] if argv is None else argv)
    try:
        status = app(args=args, prog_name="advex", standalone_mode=False)
    except TyperException as err:  # click's usage errors (typer vendors click)
        ctx = getattr(err, "ctx", None)
        command = ctx.command_path.partition(" ")[2] if ctx is not None else ""
        hint = f" (see `advex {command} --help`)".replace("  ", " ") if ctx is not None else " (see `advex --help`)"
        message = " ".join((err.format_message() if hasattr(err, "format_message") else str(err)).split())
        typer.secho(f"error: {message}{hint}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except AdvexError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        typer.secho("interrupted: files written so far are complete; run the command again to continue",
                    fg=typer.colors.YELLOW, err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
