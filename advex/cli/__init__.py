"""The ``advex`` command line: one module per subcommand group, registered here.

Each module in ``COMMAND_MODULES`` defines ``register(app)``. User-facing errors
(:class:`advex.errors.AdvexError`) print one clear line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from advex.errors import AdvexError

COMMAND_MODULES: list[str] = ["table1", "train", "data", "theory", "evaluate", "zoo", "figures"]
# Options that take several space-separated values (``--datasets mushroom spambase``).
MULTI_VALUE_OPTIONS = {"--datasets"}

app = typer.Typer(
    name="advex",
    help="Concise explanations via adversarial training (Chalasani et al., ICML 2020).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"advex.cli.{_name}").register(app)


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Rewrite ``--datasets a b`` as ``--datasets a --datasets b`` (click options take one value per flag)."""
    expanded: list[str] = []
    option = None
    for token in argv:
        if token in MULTI_VALUE_OPTIONS:
            option = token
            continue
        if option and not token.startswith("-"):
            expanded += [option, token]
            continue
        option = None
        expanded.append(token)
    return expanded


def main(argv: list[str] | None = None) -> None:
    """Console entry point: click reports usage errors; AdvexError becomes one red line, exit status 2."""
    args = expand_multi_value_options(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="advex")
    except AdvexError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
