"""What code may hold, checked on the code as it is: domain modules reach no I/O library through
any chain of imports, and no Python module of ``shared/`` or ``services/`` holds SQL (named
queries live in ``.sql`` files, loaded with ``shared.sql.load_queries``).
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from shared.sql import load_queries

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "domain.py").exists())
IO_LIBRARIES = {"asyncpg", "aiokafka", "faststream", "fastapi", "httpx", "starlette"}


# --- no SQL in Python: named queries in .sql files, in services and shared alike ------------

# Python files that still build SQL, each with the reason. Nothing else may hold a SQL literal.
SQL_IN_PYTHON_PENDING: set[str] = set()
_SQL_START = re.compile(
    r"^\s*(SELECT\s+\S|INSERT\s+INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|WITH\s+\w+\s+AS\b"
    r"|CREATE\s+(TABLE|DATABASE|INDEX|UNIQUE)\b|ALTER\s+TABLE\b|DROP\s+(TABLE|DATABASE|INDEX)\b"
    r"|TRUNCATE\b|COPY\s+\w+\s+(FROM|TO)\b|LISTEN\b|NOTIFY\b|LOCK\s+TABLE\b)"
)
_SQL_ANYWHERE = re.compile(r"\b(FROM|INTO|WHERE|SET|VALUES)\b[^\n]*\$\d")  # a bind parameter in a clause


def _product_python(root: Path = ROOT) -> list[Path]:
    """Every .py of shared/, services/, the console and the command, but their tests."""
    return sorted(p for top in ("shared", "services", "console", "kehu") for p in (root / top).rglob("*.py")
                  if "tests" not in p.relative_to(root).parts)


def sql_literals(path: Path) -> list[str]:
    """String literals (and the literal parts of f-strings) in ``path`` that are SQL."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parts_of_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if id(node) in parts_of_fstrings:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        else:
            continue
        if _SQL_START.search(text) or _SQL_ANYWHERE.search(text):
            found.append(f"line {node.lineno}: {text.strip().splitlines()[0][:80]}")
    return found


def test_no_python_module_of_shared_or_services_holds_sql() -> None:
    offenders = {}
    for path in _product_python():
        name = str(path.relative_to(ROOT))
        if name not in SQL_IN_PYTHON_PENDING and (found := sql_literals(path)):
            offenders[name] = found
    assert not offenders, "SQL belongs in named queries in .sql files (shared/sql/, services/*/sql/):\n" + "\n".join(
        f"{name}: {line}" for name, lines in offenders.items() for line in lines)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1",
        "\nINSERT INTO outbox (a) VALUES ($1)\n",
        "UPDATE outbox SET sent_at = $2 WHERE id = ANY($1::bigint[])",
        "DELETE FROM outbox WHERE sent_at < $1",
        "CREATE TABLE IF NOT EXISTS schema_migrations (x int)",
        "DROP TABLE timeline",
        "  ... WHERE principal = $1 AND key = $2",
    ],
)
def test_sql_scan_sees_sql(tmp_path: Path, text: str) -> None:
    path = tmp_path / "module.py"
    path.write_text(f"Q = {text!r}\nF = f{text!r}\n", encoding="utf-8")
    assert len(sql_literals(path)) == 2


@pytest.mark.parametrize("text", ["Select a customer", "DELETE", "the SELECT list", "costs $5 in total", "UPDATE"])
def test_sql_scan_leaves_prose_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "module.py"
    path.write_text(f"Q = {text!r}\n", encoding="utf-8")
    assert sql_literals(path) == []


def _loaded_sql_files(path: Path) -> list[Path]:
    # Path(__file__).parent / "sql" / "x.sql", or .parent.parent from a package (store/customers.py)
    found = re.findall(r"""load_queries\(Path\(__file__\)((?:\.parent)+)\s*/\s*"sql"\s*/\s*"([^"]+)"\)""",
                       path.read_text(encoding="utf-8"))
    return [path.parents[parents.count(".parent") - 1] / "sql" / name for parents, name in found]


@pytest.mark.parametrize("path", _product_python(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_query_a_module_uses_is_in_the_files_it_loads(path: Path) -> None:
    used = set(re.findall(r"""\bQ\[\s*["']([^"']+)["']\s*\]""", path.read_text(encoding="utf-8")))
    files = _loaded_sql_files(path)
    assert all(f.is_file() for f in files), f"{path.relative_to(ROOT)} loads a .sql file that does not exist"
    defined: set[str] = set().union(*(load_queries(f) for f in files))
    assert not used - defined, f"{path.relative_to(ROOT)} uses queries no file it loads defines: {sorted(used - defined)}"


def test_shared_queries_are_numbered_without_gaps_and_packaged() -> None:
    files = sorted((ROOT / "shared" / "sql").glob("*.sql"))
    assert files
    for path in files:
        for name, sql in load_queries(path).items():
            numbers = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
            assert numbers == list(range(1, len(numbers) + 1)), f"shared/sql/{path.name}: {name} uses {numbers}"
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert "sql/*.sql" in package_data["*"]


# --- domain modules do no I/O ---------------------------------------------------------------


def _imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of what ``path`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    package = path.relative_to(root).parent.parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parent = ".".join(package[: len(package) - node.level + 1])
                base = f"{parent}.{base}".strip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def _project_file(module: str, root: Path) -> Path | None:
    """The file of a module of this project (``shared.x``, ``services.y.z``), else None."""
    if _top(module) not in ("shared", "services"):
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None  # a name imported from a module, not a module


def io_import_chains(start: Path, root: Path = ROOT) -> list[list[str]]:
    """Every way ``start`` reaches an I/O library, following project imports transitively.

    Each chain names the modules in order, e.g. ``[domain.py, shared.batches, shared.http, fastapi]``.
    """
    chains: list[list[str]] = []
    seen: set[Path] = {start}
    queue: list[tuple[Path, list[str]]] = [(start, [str(start.relative_to(root))])]
    while queue:
        path, chain = queue.pop(0)
        imported = _imported_modules(path, root)
        chains += [[*chain, library] for library in sorted({_top(m) for m in imported} & IO_LIBRARIES)]
        for module in sorted(imported):
            found = _project_file(module, root)
            if found is not None and found not in seen:
                seen.add(found)
                queue.append((found, [*chain, module]))
    return chains


@pytest.mark.parametrize("service", SERVICES)
def test_domain_module_reaches_no_io_library_through_any_import(service: str) -> None:
    chains = io_import_chains(ROOT / "services" / service / "domain.py")
    assert not chains, f"services/{service}/domain.py reaches I/O:\n" + "\n".join(" -> ".join(c) for c in chains)


def test_import_scan_sees_io_imports() -> None:
    """The scan above would notice: ``shared/http.py`` imports several of the I/O libraries."""
    assert {_top(m) for m in _imported_modules(ROOT / "shared" / "http.py")} >= {"asyncpg", "fastapi", "starlette"}


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_import_scan_follows_project_imports_transitively(tmp_path: Path) -> None:
    """The shape of the old ``shared/batches.py``: a domain module imports a shared module that
    imports ``shared.http``, which imports fastapi. One level down saw nothing; this sees it."""
    files = {
        "services/shop/domain.py": "from shared.batches import ItemProblem\n",
        "shared/__init__.py": "",
        "shared/batches.py": "from shared.http import ProblemError\n",
        "shared/http.py": "import orjson\nfrom fastapi import Request\nfrom shared import errors\n",
        "shared/errors.py": "from dataclasses import dataclass\n",
    }
    _write_tree(tmp_path, files)

    chains = io_import_chains(tmp_path / "services/shop/domain.py", tmp_path)

    assert chains == [["services/shop/domain.py", "shared.batches", "shared.http", "fastapi"]]


def test_import_scan_resolves_relative_and_package_imports(tmp_path: Path) -> None:
    files = {
        "services/shop/__init__.py": "",
        "services/shop/domain.py": "from . import rules\nfrom shared import net\n",
        "services/shop/rules.py": "import asyncpg\n",
        "shared/net.py": "import httpx._client\n",
    }
    _write_tree(tmp_path, files)

    chains = io_import_chains(tmp_path / "services/shop/domain.py", tmp_path)

    assert sorted(chains) == [["services/shop/domain.py", "services.shop.rules", "asyncpg"],
                              ["services/shop/domain.py", "shared.net", "httpx"]]
