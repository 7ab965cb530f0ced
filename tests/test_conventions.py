"""The conventions every service follows (docs/architecture.md §7, §10), checked on the code as it is.

Named SQL in ``.sql`` files, numbered migrations, field paths in problem details, roles.
What code may hold (no I/O in domain modules, no SQL in Python) is in ``test_layering.py``; tokens
are in ``test_tokens.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared.auth import ROLES, Principal
from shared.db import SHARED_MIGRATIONS, read_migrations
from shared.http import field_path
from shared.sql import load_queries

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "app.py").exists())


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
    """Every named query of the service; a name is unique within its file (a service split by
    aggregate loads one file per store module, so two files may reuse a name)."""
    queries: dict[str, str] = {}
    for path in _sql_files(service):
        loaded = load_queries(path)
        assert loaded, f"{path} defines no query"
        queries |= {f"{path.stem}:{name}": sql for name, sql in loaded.items()}
    return queries


def _stores(service: str) -> list[Path]:
    """``store.py``, or the modules of ``store/`` for a service split by aggregate (contacts)."""
    single = ROOT / "services" / service / "store.py"
    return [single] if single.is_file() else sorted((ROOT / "services" / service / "store").glob("[!_]*.py"))


def _loaded_files(store: Path) -> list[Path]:
    found = re.findall(r"""load_queries\(Path\(__file__\)((?:\.parent)+)\s*/\s*"sql"\s*/\s*"([^"]+)"\)""",
                       store.read_text(encoding="utf-8"))
    return [store.parents[parents.count(".parent") - 1] / "sql" / name for parents, name in found]


@pytest.mark.parametrize("service", SERVICES)
def test_every_sql_file_of_every_service_loads(service: str) -> None:
    assert _sql_files(service), f"services/{service}/sql/ has no .sql file"
    assert _queries_of(service)


@pytest.mark.parametrize("service", SERVICES)
def test_every_query_the_store_uses_is_defined(service: str) -> None:
    assert _stores(service), f"services/{service} has no store"
    for store in _stores(service):
        used = set(re.findall(r"""\bQ\[\s*["']([^"']+)["']\s*\]""", store.read_text(encoding="utf-8")))
        assert used, f"{store.relative_to(ROOT)} uses no named query"
        defined: set[str] = set().union(*(load_queries(f) for f in _loaded_files(store)))
        missing = used - defined
        assert not missing, f"{store.relative_to(ROOT)} uses queries its .sql files do not define: {sorted(missing)}"


@pytest.mark.parametrize("service", SERVICES)
def test_store_loads_its_queries_from_its_own_sql_folder(service: str) -> None:
    for store in _stores(service):
        files = _loaded_files(store)
        assert files, f"{store.relative_to(ROOT)} does not load_queries from sql/"
        sql_folder = ROOT / "services" / service / "sql"
        assert all(f.is_file() and f.parent == sql_folder for f in files), store


_DB_CALLS = {"fetch", "fetchrow", "fetchval", "execute", "executemany"}


@pytest.mark.parametrize("service", SERVICES)
def test_store_runs_only_named_queries(service: str) -> None:
    inline = []
    for path in _stores(service):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _DB_CALLS:
                first = node.args[0] if node.args else None
                named = (isinstance(first, ast.Subscript) and isinstance(first.value, ast.Name)
                         and first.value.id == "Q")
                if not named:
                    inline.append(f"{path.relative_to(ROOT)} line {node.lineno}: {ast.unparse(node)[:80]}")
    assert not inline, "stores run SQL that is not a named query:\n" + "\n".join(inline)


@pytest.mark.parametrize("service", SERVICES)
def test_query_parameters_are_numbered_without_gaps(service: str) -> None:
    for name, sql in _queries_of(service).items():
        numbers = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
        assert numbers == list(range(1, len(numbers) + 1)), f"{service}/{name} uses parameters {numbers}"


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


