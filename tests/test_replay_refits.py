"""Replays of a shop big enough for the population model to be refitted several times, on the
real broker and database, folded in two worker processes: with ``?refit=true`` (every model
fitted anew) and reusing the stored fits of the same inputs (``fit_key``), they rebuild the same
tables.

The shop: 160 customers over 36 weeks (2024-01-01 on), imported with `kehu import orders`: a
quarter weekly regulars (some of whom stop), a quarter monthly, half buying once. Insights runs
on the event-time clock with refits every 28 days.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kehu.importer import ImportOptions, run_import
from services.insights import replay as insights_replay
from tests.conftest import Cluster, eventually, own_cluster

pytestmark = pytest.mark.database

DAY0 = datetime(2024, 1, 1, 10, tzinfo=UTC)
CUSTOMERS = 160


def history(seed: int = 11) -> list[tuple[datetime, str, int, str]]:
    rng = random.Random(seed)
    rows = []
    for n in range(CUSTOMERS):
        ref, first = f"rf-{n:03d}", rng.randrange(0, 120)
        kind = ("weekly", "monthly", "once", "once")[n % 4]
        if kind == "once":
            days = [first]
        else:
            gap = 7 if kind == "weekly" else 30
            end = first + rng.randrange(60, 150) if n % 3 == 0 else 250
            days = list(range(first, end, gap))
        rows += [(DAY0 + timedelta(days=d, minutes=rng.randrange(0, 480)), ref, rng.randrange(1, 5),
                  f"{rng.randrange(5, 80)}.{rng.randrange(0, 100):02d}") for d in days]
    return sorted(rows)


@pytest.fixture(scope="module")
async def imported(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    home = tmp_path_factory.mktemp("replay-refits")
    async with own_cluster(pg_url, home, insights_clock="events", insights_refit_days=28,
                           insights_publish_days=0, insights_replay_workers=2) as cluster:
        rows = history()
        path = home / "history.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["customer_ref", "occurred_at", "quantity", "amount"])
            writer.writerows([ref, when.isoformat(), quantity, amount] for when, ref, quantity, amount in rows)
        options = ImportOptions(path=path, contacts_url=cluster.urls["contacts"], orders_url=cluster.urls["orders"],
                                token=cluster.tokens["sales"])
        report = await run_import(options, out=io.StringIO(), err=io.StringIO())
        assert report.exit_code == 0 and report.orders_created == len(rows), report

        async def folded() -> bool:
            seen = await cluster.sql("insights", "SELECT count(*) FROM timeline WHERE event_type = 'OrderPlaced'")
            return bool(seen[0][0] == len(rows))

        await eventually(folded, timeout=60)
        yield cluster


async def dump(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    tables = {
        "customer_profile": "SELECT * FROM customer_profile ORDER BY customer_id",
        "alerts": "SELECT * FROM alerts ORDER BY alert_id",
        "timeline": "SELECT * FROM timeline ORDER BY event_id",
        "population_model": "SELECT version, as_of, customers, model, cuts, fit_key FROM population_model "
                            "ORDER BY version",
        "insights_clock": "SELECT * FROM insights_clock",
    }
    return {name: [dict(r) for r in await cluster.sql("insights", query)] for name, query in tables.items()}


async def replay(cluster: Cluster, **params: str) -> dict[str, Any]:
    response = await cluster.http.post(cluster.urls["insights"] + "/admin/replay", params=params,
                                       headers=cluster.headers("admin"), timeout=120)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_replays_in_workers_reuse_stored_fits_or_refit_to_the_same_tables(
    imported: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first replay takes the live fits whose inputs it meets again. How many it meets depends
    on the order the live consumer happened to read the orders topic's partitions in: the import
    sends the history in seconds, a partition read ahead carries the event-time clock across refit
    boundaries before the others' earlier orders arrive, and a refit sees what has arrived (see
    docs/architecture.md §4). A replay that fits everything anew, and one that reuses the first replay's
    fits, rebuild exactly the same tables as the first, whatever the size of the outbox pages they
    read and decode one by one."""

    async def contacts_heard() -> bool:
        # contacts publishes a category change for each first order: contacts must have read every
        # customer's first order, and the live timeline must hold every change it published, before
        # the timeline is compared with a replay of the outboxes
        made_current = await imported.sql(
            "contacts", "SELECT count(*) AS n FROM outbox WHERE event_type = 'kehu.contacts.CustomerCategoryChanged.v1'")
        if made_current[0]["n"] < CUSTOMERS:
            return False
        published = await imported.sql("contacts", "SELECT count(*) AS n FROM outbox")
        heard = await imported.sql("insights", "SELECT count(*) AS n FROM timeline WHERE ce_type LIKE 'kehu.contacts.%'")
        return bool(published[0]["n"] == heard[0]["n"])

    await eventually(contacts_heard, timeout=60)
    live = await dump(imported)
    assert all(m["fit_key"] for m in live["population_model"])

    first = await replay(imported)
    assert (first["fold_processes"], first["skipped"]) == (2, [])
    assert first["refits"] >= 3
    rebuilt = await dump(imported)
    assert rebuilt["timeline"] == live["timeline"]
    assert len(rebuilt["customer_profile"]) == CUSTOMERS and rebuilt["alerts"]

    monkeypatch.setattr(insights_replay, "OUTBOX_PAGE", 97)  # dozens of pages per source
    refitted = await replay(imported, refit="true")
    assert (refitted["refits"], refitted["reused_fits"]) == (first["refits"], 0)
    assert await dump(imported) == rebuilt

    reused = await replay(imported)
    assert reused["reused_fits"] == reused["refits"] == first["refits"]
    assert await dump(imported) == rebuilt
