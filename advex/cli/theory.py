"""``advex theory``: run every numerical check of the paper's theory (Theorems 3.1 and E.1, App. D.2, Lemma 4.1, Theorem 5.1)."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm import tqdm

from advex.models.io import atomic_write_json
from advex.theory import checks


def theory(
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results as a JSON list to this file."),
    seed: int = typer.Option(0, help="Seed of the random problems and Monte Carlo samples."),
) -> None:
    """Check Theorem 3.1 (eqs. 9-12), App. D.2, Theorem E.1 (eqs. E.50-E.62), Lemma 4.1 (eq. 15) and Theorem 5.1 (eq. 18).

    Prints one row per check: the equation, the largest violation or relative error, the tolerance and
    whether it passed. Monte Carlo checks are in units of the standard error; "control" rows run broken
    cases and pass when the violation is caught. Exit status 1 if any check fails.
    """
    if json_path is not None and not json_path.parent.is_dir():
        raise typer.BadParameter(f"folder {json_path.parent} does not exist; create it or choose another path",
                                 param_hint="--json")
    results = []
    with tqdm(checks.CHECKS, desc="theory", unit="check") as bar:
        for check in bar:
            bar.set_postfix_str(check.name)
            results.append(checks.run_check(check.name, seed))
    typer.echo(checks.format_table(results))
    if json_path is not None:
        atomic_write_json(json_path, [r.as_dict() for r in results])
        typer.echo(f"wrote {len(results)} results to {json_path}")
    if not all(r.passed for r in results):
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("theory")(theory)
