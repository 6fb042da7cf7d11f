"""The README's "Use it from Python" section runs as written."""

import re

from conftest import REPO_ROOT


def python_blocks(section: str) -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], flags=re.S)


def test_use_it_from_python_runs_as_written(capsys):
    blocks = python_blocks("Use it from Python")
    assert blocks, "the README lost its Python examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the project's own README
    assert namespace["advex"].gini(namespace["A"]).shape == (8,)
