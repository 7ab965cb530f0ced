"""Named SQL queries kept in ``.sql`` files.

Each query sits under a ``-- name: <query_name>`` header; the lines after it up to the next
header are the query. Services' stores (``services/*/sql/``) and the shared modules
(``shared/sql/``) load their files once at import (no I/O beyond reading the package's own files)
and call queries by name with ``$n`` arguments: no SQL is built with f-strings, and no ``.py`` holds
SQL (``tests/test_conventions.py`` checks).
"""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def load_queries(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        sql = "\n".join(lines).strip().rstrip(";")
        if name in queries:
            raise ValueError(f"{path.name}: query {name!r} is defined twice")
        if not sql:
            raise ValueError(f"{path.name}: query {name!r} is empty")
        queries[name] = sql
    return queries
