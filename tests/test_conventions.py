"""The conventions every service follows (DESIGN §7, §10), checked on the code as it is.

Named SQL in ``.sql`` files, numbered migrations, field paths in problem details, roles and tokens,
and domain modules free of I/O.
"""

from __future__ import annotations

import ast
import json
import re
import stat
import tomllib
from pathlib import Path

import pytest

from shared.auth import ROLES, Principal, TokenStore, add_token, digest
from shared.db import SHARED_MIGRATIONS, read_migrations
from shared.http import field_path
from shared.sql import load_queries

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "domain.py").exists())
IO_LIBRARIES = {"asyncpg", "aiokafka", "faststream", "fastapi", "httpx", "starlette"}


def test_the_four_services_are_found() -> None:
    assert SERVICES == ["contacts", "insights", "orders", "tickets"]


# --- named SQL ------------------------------------------------------------------------------


def _sql_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queries.sql"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_queries_reads_each_named_block(tmp_path: Path) -> None:
    path = _sql_file(tmp_path, """\
-- Preamble: what this file is for (not a query).

-- name: customer_by_id
-- One customer.
SELECT id, name
FROM customers
WHERE id = $1;

--name:count_customers
SELECT count(*) FROM customers
""")

    assert load_queries(path) == {
        "customer_by_id": "SELECT id, name\nFROM customers\nWHERE id = $1",
        "count_customers": "SELECT count(*) FROM customers",
    }


def test_load_queries_of_a_file_without_headers_is_empty(tmp_path: Path) -> None:
    assert load_queries(_sql_file(tmp_path, "-- nothing named here\nSELECT 1;\n")) == {}


def test_load_queries_refuses_a_name_defined_twice(tmp_path: Path) -> None:
    path = _sql_file(tmp_path, "-- name: q\nSELECT 1;\n\n-- name: q\nSELECT 2;\n")
    with pytest.raises(ValueError, match="query 'q' is defined twice"):
        load_queries(path)


@pytest.mark.parametrize("body", ["", "\n\n", "-- only a comment\n", ";\n"])
def test_load_queries_refuses_an_empty_query(tmp_path: Path, body: str) -> None:
    path = _sql_file(tmp_path, f"-- name: empty\n{body}-- name: full\nSELECT 1;\n")
    with pytest.raises(ValueError, match=re.escape("queries.sql: query 'empty' is empty")):
        load_queries(path)


def _sql_files(service: str) -> list[Path]:
    return sorted((ROOT / "services" / service / "sql").glob("*.sql"))


def _queries_of(service: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in _sql_files(service):
        loaded = load_queries(path)
        assert loaded, f"{path} defines no query"
        assert not set(loaded) & set(queries), f"{path} redefines {set(loaded) & set(queries)}"
        queries |= loaded
    return queries


@pytest.mark.parametrize("service", SERVICES)
def test_every_sql_file_of_every_service_loads(service: str) -> None:
    assert _sql_files(service), f"services/{service}/sql/ has no .sql file"
    assert _queries_of(service)


@pytest.mark.parametrize("service", SERVICES)
def test_every_query_the_store_uses_is_defined(service: str) -> None:
    source = (ROOT / "services" / service / "store.py").read_text(encoding="utf-8")
    used = set(re.findall(r"""\bQ\[\s*["']([^"']+)["']\s*\]""", source))

    assert used, f"services/{service}/store.py uses no named query"
    missing = used - set(_queries_of(service))
    assert not missing, f"services/{service}/store.py uses queries no .sql file defines: {sorted(missing)}"


@pytest.mark.parametrize("service", SERVICES)
def test_store_loads_its_queries_from_its_own_sql_folder(service: str) -> None:
    source = (ROOT / "services" / service / "store.py").read_text(encoding="utf-8")
    named = re.findall(r"""load_queries\(Path\(__file__\)\.parent\s*/\s*"sql"\s*/\s*"([^"]+)"\)""", source)
    assert named, f"services/{service}/store.py does not load_queries from sql/"
    assert all((ROOT / "services" / service / "sql" / name).is_file() for name in named)


_DB_CALLS = {"fetch", "fetchrow", "fetchval", "execute", "executemany"}


@pytest.mark.parametrize("service", SERVICES)
def test_store_runs_only_named_queries(service: str) -> None:
    path = ROOT / "services" / service / "store.py"
    inline = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _DB_CALLS:
            first = node.args[0] if node.args else None
            named = (isinstance(first, ast.Subscript) and isinstance(first.value, ast.Name) and first.value.id == "Q")
            if not named:
                inline.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    assert not inline, f"{path.relative_to(ROOT)} runs SQL that is not a named query:\n" + "\n".join(inline)


@pytest.mark.parametrize("service", SERVICES)
def test_query_parameters_are_numbered_without_gaps(service: str) -> None:
    for name, sql in _queries_of(service).items():
        numbers = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
        assert numbers == list(range(1, len(numbers) + 1)), f"{service}/{name} uses parameters {numbers}"


# --- no SQL in Python: named queries in .sql files, in services and shared alike ------------

# Python files that still build SQL, each with the reason. Nothing else may hold a SQL literal.
SQL_IN_PYTHON_PENDING = {
    # The swap's table names are f-strings; its owner (insights internals, issue 9) moves them.
    "services/insights/replay.py",
}
_SQL_START = re.compile(
    r"^\s*(SELECT\s+\S|INSERT\s+INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|WITH\s+\w+\s+AS\b"
    r"|CREATE\s+(TABLE|DATABASE|INDEX|UNIQUE)\b|ALTER\s+TABLE\b|DROP\s+(TABLE|DATABASE|INDEX)\b"
    r"|TRUNCATE\b|COPY\s+\w+\s+(FROM|TO)\b|LISTEN\b|NOTIFY\b|LOCK\s+TABLE\b)"
)
_SQL_ANYWHERE = re.compile(r"\b(FROM|INTO|WHERE|SET|VALUES)\b[^\n]*\$\d")  # a bind parameter in a clause


def _product_python(root: Path = ROOT) -> list[Path]:
    """Every .py of shared/ and services/ but their tests."""
    return sorted(p for top in ("shared", "services") for p in (root / top).rglob("*.py")
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
    names = re.findall(r"""load_queries\(Path\(__file__\)\.parent\s*/\s*"sql"\s*/\s*"([^"]+)"\)""",
                       path.read_text(encoding="utf-8"))
    return [path.parent / "sql" / name for name in names]


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


# --- migrations -----------------------------------------------------------------------------

MIGRATION_DIRS = [(f"services/{s}/migrations", ROOT / "services" / s / "migrations") for s in SERVICES]
MIGRATION_DIRS.append(("shared/migrations", SHARED_MIGRATIONS))


@pytest.mark.parametrize(("label", "directory"), MIGRATION_DIRS, ids=[label for label, _ in MIGRATION_DIRS])
def test_migrations_are_numbered_from_0001_without_gaps(label: str, directory: Path) -> None:
    migrations = read_migrations("service", directory)

    assert migrations, f"{label} has no migration"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        assert m.sql.strip(), f"{label}/{m.version:04d}_{m.name}.sql is empty"
        assert re.fullmatch(r"[a-z0-9_]+", m.name)


def test_read_migrations_returns_them_in_order_with_their_sql(tmp_path: Path) -> None:
    (tmp_path / "0002_lines.sql").write_text("CREATE TABLE b ();", encoding="utf-8")
    (tmp_path / "0001_orders.sql").write_text("CREATE TABLE a ();", encoding="utf-8")
    (tmp_path / "README.md").write_text("not a migration", encoding="utf-8")

    found = read_migrations("service", tmp_path)

    assert [(m.namespace, m.version, m.name, m.sql) for m in found] == [
        ("service", 1, "orders", "CREATE TABLE a ();"),
        ("service", 2, "lines", "CREATE TABLE b ();"),
    ]


@pytest.mark.parametrize("bad_name", ["1_init.sql", "0001-init.sql", "0001_Init.sql", "00001_init.sql", "0001_.sql", "init.sql"])
def test_read_migrations_refuses_a_badly_named_file(tmp_path: Path, bad_name: str) -> None:
    (tmp_path / "0001_init.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / bad_name).write_text("SELECT 2;", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("is not named NNNN_name.sql")):
        read_migrations("service", tmp_path)


@pytest.mark.parametrize("names", [["0001_a.sql", "0003_c.sql"], ["0002_b.sql"], ["0000_zero.sql", "0001_a.sql"]])
def test_read_migrations_refuses_gaps_and_a_wrong_start(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("must be numbered 0001, 0002, ... without gaps")):
        read_migrations("service", tmp_path)


def test_read_migrations_refuses_two_files_with_one_number(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(ValueError, match="without gaps"):
        read_migrations("service", tmp_path)


# --- field paths in problem details ---------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "lines", 0, "quantity"), "lines[0].quantity"),
        (("query", "limit"), "query.limit"),
        (("body",), "body"),
        ((), "body"),
        (("body", "customer_id"), "customer_id"),
        (("path", "order_id"), "path.order_id"),
        (("header", "Idempotency-Key"), "header.Idempotency-Key"),
        (("body", "lines", 2), "lines[2]"),
        (("body", "matrix", 0, 1, "x"), "matrix[0][1].x"),
    ],
)
def test_field_path_names_the_field_as_integrators_write_it(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


# --- roles and tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        ("readonly", "orders:read", True),
        ("readonly", "orders:write", False),
        ("readonly", "customers:write", False),
        ("readonly", "tickets:write", False),
        ("service", "tickets:write", True),
        ("service", "orders:write", False),
        ("service", "customers:write", False),
        ("service", "insights:read", True),
        ("sales", "orders:write", True),
        ("manager", "customers:write", True),
        ("admin", "orders:write", True),
        ("admin", "tokens:manage", True),
        ("nobody", "orders:read", False),  # a role that does not exist grants nothing
    ],
)
def test_role_grants_exactly_its_permissions(role: str, permission: str, allowed: bool) -> None:
    assert Principal("someone", role).may(permission) is allowed


def test_admin_has_every_permission_any_role_has() -> None:
    admin = Principal("root", "admin")
    every = set().union(*(perms for role, perms in ROLES.items() if role != "admin"))
    assert every
    assert all(admin.may(p) for p in every)


def test_every_role_may_read_everything() -> None:
    for role in ROLES:
        for area in ("customers", "orders", "tickets", "insights"):
            assert Principal("x", role).may(f"{area}:read"), f"{role} cannot read {area}"


def test_add_token_then_load_authenticates_the_token(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tokens.json"

    token = add_token(path, name="till-1", role="sales")
    given = add_token(path, name="helpdesk", role="service", token="kehu_fixed_token_for_test")
    store = TokenStore.load(path)

    assert token.startswith("kehu_") and len(token) > 20
    assert given == "kehu_fixed_token_for_test"
    assert store.authenticate(token) == Principal("till-1", "sales")
    assert store.authenticate(given) == Principal("helpdesk", "service")


def test_wrong_token_authenticates_nobody(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, name="till-1", role="sales")
    store = TokenStore.load(path)

    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate(digest(token)) is None  # the digest is not a token


def test_tokens_file_keeps_only_sha256_digests(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, name="till-1", role="admin")

    text = path.read_text(encoding="utf-8")
    entries = json.loads(text)["tokens"]

    assert token not in text
    assert entries == [{"name": "till-1", "role": "admin", "sha256": digest(token)}]
    assert re.fullmatch(r"[0-9a-f]{64}", entries[0]["sha256"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_adding_a_token_under_an_existing_name_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    old = add_token(path, name="till-1", role="sales")
    new = add_token(path, name="till-1", role="readonly")

    store = TokenStore.load(path)

    assert store.authenticate(old) is None
    assert store.authenticate(new) == Principal("till-1", "readonly")
    assert len(json.loads(path.read_text(encoding="utf-8"))["tokens"]) == 1


def test_add_token_refuses_an_unknown_role(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    with pytest.raises(ValueError, match=re.escape("unknown role 'owner'")):
        add_token(path, name="x", role="owner")
    assert not path.exists()


def test_loading_a_missing_tokens_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="kehu token add"):
        TokenStore.load(tmp_path / "tokens.json")


def test_loading_a_tokens_file_with_an_unknown_role_fails(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": [{"name": "x", "role": "owner", "sha256": digest("t")}]}), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("unknown role 'owner' for token 'x'")):
        TokenStore.load(path)


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
