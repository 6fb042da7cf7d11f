"""Read a shipped or recomputed results file (a JSON list of rows) with bounded size, each row checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from advex.errors import AdvexError


def read_checked_rows(path: str | Path, *, kind: str, rows_name: str, fix: str, max_bytes: int,
                      problem: Callable[[object], str | None]) -> list[dict]:
    """The rows of ``path``; one AdvexError naming the problem and ``fix`` otherwise.

    ``kind`` names the file's contents in messages ("ablation results"), ``rows_name`` its rows;
    ``problem(row)`` says why a row is not one (None when it is). Files over ``max_bytes`` are refused unread.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise AdvexError(f"{path} holds {size / 2**20:.0f} MB, far more than {kind}; {fix}")
        rows = json.loads(path.read_text())
    except OSError as error:
        raise AdvexError(f"cannot read the {kind} {path} ({error.strerror or error}); {fix}") from None
    except ValueError as error:
        raise AdvexError(f"{path} is not a JSON file of {kind} ({error}); {fix}") from None
    if not isinstance(rows, list):
        raise AdvexError(f"{path} is not a list of {rows_name}; {fix}")
    for index, row in enumerate(rows):
        reason = problem(row)
        if reason is not None:
            raise AdvexError(f"row {index} of {path} {reason}; {fix}")
    return rows
