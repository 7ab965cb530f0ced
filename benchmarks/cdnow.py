#!/usr/bin/env python3
"""CDNOW quality and performance benchmark of kehu (issue 3). Run on demand, not in tests.

**Split A (quality), the paper's split.** A fresh ``kehu up`` (own ``KEHU_HOME`` and ports,
``KEHU_INSIGHTS_CLOCK=events`` so only event time moves the rules, ``KEHU_CURRENCIES=USD``) imports only the CDNOW orders
up to the cutoff (``--cutoff``, default 1997-09-30) with ``kehu import orders``; once insights has
processed every order the benchmark refits the population model as of the cutoff
(``POST /model/refit?as_of=``) and exports every customer as of the cutoff
(``GET /export/insights.csv?as_of=``, what ``kehu export insights --as-of`` does). The export is
compared with what each customer really did from the day after the cutoff to 1998-06-30:

* AUC of kehu's ``churn_risk`` for "churned" (no purchase in the holdout), on repeat buyers (at
  least two purchase days by the cutoff) and on all customers, next to references computed in the
  same run from the calibration data only: BG/NBD fitted by ``benchmarks.research_models.fit_bg_nbd``
  (validated against the published fit by a unit test) and Pareto/NBD (``fit_pareto_nbd``), both
  scored by minus the expected number of purchase days in the holdout (the published way of
  ranking), plain recency (days since the last purchase), and, when a throwaway venv with the
  ``lifetimes`` package exists (``--lifetimes-python``, default /tmp/lt/bin/python; never the
  project's venv), BG/NBD fitted by ``lifetimes`` too. AUC is the Mann-Whitney statistic, ties
  counted one half.
* Share of the holdout revenue captured by the top 20 % of all customers by kehu's
  ``expected_value_90d``, next to the top 20 % by RFM score (the sum of the recency, frequency and
  monetary quintile scores; ties broken by R, then F, then M, then customer id) and the ceiling
  (the top 20 % by holdout revenue itself).

Targets (issue 3): ``churn_risk`` at least as good as the BG/NBD reference on both populations,
and ``expected_value_90d`` at least as good as RFM, in the same run.

**Performance.** A fresh ``kehu up`` imports the whole CDNOW master (69,659 rows). Reported: the
CSV conversion, the importer's own stages (parse, customers, orders, from its summary), the wait
until insights has processed every order after the import returned, and end to end (from
launching ``kehu import orders`` to insights having processed every order; the CSV conversion is
the benchmark's, not kehu's, and is reported but not counted). Then ``kehu replay insights`` with
its events/s and per-stage seconds, once the relays have published every outbox and the machine
has settled (it reuses a stored population fit wherever it meets the very
same inputs again, as after an import), and ``kehu replay insights --refit`` (every model fitted
anew, as after a change of the fitting code). Targets: end to end under 60 s (≥ 1,200 orders/s);
replay ≥ 10,000 events/s (both replays are held to it).

Completion signal: no API counts the events insights has processed, so the benchmark reads the
insights database directly for that one check (``count(*)`` of ``OrderPlaced`` rows on the
``timeline`` table, over the embedded PostgreSQL's Unix socket; a timeline row is committed in the
same transaction that folds the order into the profile), and waits until it equals the number
of orders the import created. ``GET /segments`` is checked afterwards (customers with a purchase,
total spent) as an API-level cross-check.

    .venv/bin/python benchmarks/cdnow.py                                    # both parts, print only
    .venv/bin/python benchmarks/cdnow.py --write                            # ... and keep the run in results/
    .venv/bin/python benchmarks/cdnow.py --cutoff 1997-06-30 --skip-performance
    .venv/bin/python benchmarks/cdnow.py --limit-customers 1000 --skip-performance   # quick dry run

Throwaway venv for the lifetimes reference (optional):
``python3.11 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes==0.11.3 'pandas<3' 'numpy<2' 'scipy<1.14'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import psutil
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import model_research as research
from benchmarks import research_models as R
from benchmarks.cdnow_csv import SOURCE, convert, require_source
from benchmarks.e2e_latency import CpuSample, KehuUp, cpu_by_role, cpu_sample, default_kehu, machine_info, run_async

HERE = Path(__file__).resolve().parent
HOLDOUT_END = date(1998, 6, 30)
FIRST_DAY = date(1997, 1, 1)
TOP_SHARE = 0.2
MASTER_ROWS = 69_659
E2E_TARGET_S, E2E_TARGET_RATE = 60.0, 1_200.0
REPLAY_TARGET_RATE = 10_000.0
ISSUE_FIGURES = {"bg_repeat": 0.732, "bg_all": 0.763, "recency_repeat": 0.711, "rfm": 0.68, "ceiling": 0.94}
PROGRESS_EVERY_S = 10.0
COUNT_ORDERS = "SELECT count(*) FROM timeline WHERE event_type = 'OrderPlaced'"

LIFETIMES_SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import lifetimes
from lifetimes import BetaGeoFitter
d = json.load(sys.stdin)
x, t, T = (np.asarray(d[k], dtype=float) for k in ("x", "t_x", "T"))
bg = BetaGeoFitter(penalizer_coef=0.0).fit(x, t, T)
e = bg.conditional_expected_number_of_purchases_up_to_time(d["H"], x, t, T)
json.dump({"version": lifetimes.__version__, "params": {k: float(v) for k, v in bg.params_.items()},
           "expected": [float(v) for v in np.asarray(e)]}, sys.stdout)
"""


# -- the `kehu up` under test ---------------------------------------------------------------------


class Instance(KehuUp):
    """`kehu up` of benchmarks/e2e_latency.py with the events clock, stopped with SIGINT first."""

    stop_timeout_s: float = 60.0

    def env(self) -> dict[str, str]:
        env = super().env()
        env["KEHU_INSIGHTS_CLOCK"] = "events"
        # CDNOW's dates are days of a US shop selling in dollars: its calendar is counted in UTC days
        # (as every figure in RESULTS.md was) and its amounts are the shop currency.
        env["KEHU_TIMEZONE"] = "UTC"
        env["KEHU_CURRENCIES"] = "USD"
        return env

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            on_main = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if on_main else None  # a 2nd Ctrl-C waits
            try:
                with contextlib.suppress(Exception):
                    self.remember_processes()
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    print(f"    kehu up did not stop {self.stop_timeout_s:.0f} s after SIGINT; SIGTERM, then kill",
                          flush=True)
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
        super().stop()  # SIGTERM / SIGKILL if still running, then ends any leftover process of it

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


def scan_logs(home: Path, per_file: int = 3) -> dict[str, Any]:
    """Warnings and errors in <home>/logs/*.log (JSON lines of the services, text of the broker):
    counts per file and level, and up to ``per_file`` distinct messages per file (numbers masked)."""
    counts: dict[str, dict[str, int]] = {}
    samples: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path in sorted((home / "logs").glob("*.log")):
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                level = ""
                message = line
                try:
                    entry = json.loads(line)
                    if isinstance(entry, dict):
                        level = str(entry.get("level", "")).lower()
                        message = str(entry.get("msg", line))
                        if entry.get("error"):
                            message += " | " + str(entry["error"]).strip().splitlines()[-1]
                except ValueError:
                    low = line.lower()
                    level = next((w for w in ("error", "warn", "panic") if w in low), "")
                    if "traceback" in low:
                        level = "error"
                if level in ("warning", "warn", "error", "critical", "panic"):
                    level = "warning" if level == "warn" else level
                    per = counts.setdefault(path.stem, {})
                    per[level] = per.get(level, 0) + 1
                    shape = (path.name, re.sub(r"\d+", "N", message))
                    if shape not in seen and sum(1 for f, _ in seen if f == path.name) < per_file:
                        seen.add(shape)
                        samples.append(f"{path.name}: {level}: {message[:300]}")
    return {"counts": counts, "samples": samples}


def describe_logs(found: dict[str, Any]) -> list[str]:
    if not found["counts"]:
        return ["- Logs (<home>/logs): no warning or error."]
    parts = [f"{name}: " + ", ".join(f"{n} {level}" for level, n in sorted(levels.items()))
             for name, levels in found["counts"].items()]
    lines = ["- Logs (<home>/logs): " + "; ".join(parts) + ". Examples:"]
    lines += ["  - `" + s.replace("`", "'") + "`" for s in found["samples"]]
    return lines


# -- import and wait -----------------------------------------------------------------------------


@dataclass
class ImportRun:
    rows: int
    returncode: int
    read: int = 0
    valid: int = 0
    bad: int = 0
    customers_created: int = 0
    customers_existing: int = 0
    orders_created: int = 0
    orders_existing: int = 0
    stages_s: dict[str, float] = field(default_factory=dict)
    import_wall_s: float = 0.0
    wait_after_import_s: float = 0.0
    end_to_end_s: float = 0.0
    processed: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float = 0.0  # CPU seconds of every process on the machine over the same window
    recycles: int = 0  # embedded broker recycles begun by `kehu up` in the window
    load_before: float = 0.0  # 1-minute load average before the import
    summary: str = ""

    @property
    def orders(self) -> int:
        return self.orders_created + self.orders_existing


def _busy_s() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


async def drain_outboxes(up: Instance, limit_s: float = 180.0) -> tuple[float, dict[str, int]]:
    """Seconds until every service's outbox is published (at most ``limit_s``), and the backlog
    found first: after an import the relays go on publishing (insights: the alerts, stages and
    segments of its last 90 days) and a replay measured then measures them too."""
    started = time.monotonic()
    first: dict[str, int] = {}
    while True:
        backlog = {}
        for service in ("contacts", "orders", "tickets", "insights"):
            pg = await asyncpg.connect(**up.insights_dsn(f"kehu_{service}"))
            try:
                backlog[service] = int(await pg.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
            finally:
                await pg.close()
        first = first or backlog
        if not any(backlog.values()) or time.monotonic() - started > limit_s:
            return time.monotonic() - started, first
        await asyncio.sleep(1.0)


def settle(limit_s: float = 60.0, window_s: float = 2.0, busy_below: float = 0.25) -> float:
    """Seconds waited (at most ``limit_s``) until the machine's cores were busy less than
    ``busy_below`` of a ``window_s`` window: after an import, the database's autovacuum and the
    services' relays run on for a while, and a replay measured then measures them too."""
    started = time.monotonic()
    cores = os.cpu_count() or 1
    while time.monotonic() - started < limit_s:
        before = _busy_s()
        time.sleep(window_s)
        if (_busy_s() - before) / (window_s * cores) < busy_below:
            break
    return time.monotonic() - started


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def parse_summary(run: ImportRun, text: str) -> None:
    """Fill ``run`` from the summary `kehu import orders` prints (kehu/importer.py ``summary``)."""
    if m := re.search(r"read ([\d,]+) rows from .*?: ([\d,]+) valid, ([\d,]+) bad", text):
        run.read, run.valid, run.bad = _int(m[1]), _int(m[2]), _int(m[3])
    if m := re.search(r"customers: ([\d,]+) created, ([\d,]+) already there", text):
        run.customers_created, run.customers_existing = _int(m[1]), _int(m[2])
    if m := re.search(r"orders:\s+([\d,]+) created, ([\d,]+) already there", text):
        run.orders_created, run.orders_existing = _int(m[1]), _int(m[2])
    if m := re.search(r"^time: (.*?) · total", text, re.MULTILINE):
        run.stages_s = {name: float(s) for name, s in re.findall(r"(\w+) ([\d.]+)s", m[1])}


async def _echo(stream: asyncio.StreamReader, prefix: str, keep: list[str] | None) -> None:
    while raw := await stream.readline():
        line = raw.decode(errors="replace").rstrip()
        if keep is not None:
            keep.append(line)
        if not line.startswith("line "):  # bad rows are counted in the summary, not echoed one by one
            print(f"    {prefix} {line}", flush=True)


async def import_and_wait(up: Instance, csv_path: Path, rows: int, args: argparse.Namespace) -> ImportRun:
    """`kehu import orders`, then wait until insights has every imported order on its timeline."""
    run = ImportRun(rows=rows, returncode=-1)
    pg = await asyncpg.connect(**up.insights_dsn())
    try:
        data_directory = await pg.fetchval("SHOW data_directory")
        if not up.owns_data_directory(data_directory):
            raise RuntimeError(f"connected to the PostgreSQL of {data_directory}, not of {up.pgdata}")
        run.load_before = os.getloadavg()[0]
        before: CpuSample = await asyncio.to_thread(cpu_sample, up)
        busy_before = _busy_s()
        recycles_before = up.recycles
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(args.kehu), "import", "orders", str(csv_path), "--currency", "USD",
            env=up.env(), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        out: list[str] = []
        echo = asyncio.gather(_echo(proc.stdout, "[import]", out), _echo(proc.stderr, "[import]", None))
        try:
            last_print = started
            while True:
                done, _ = await asyncio.wait({echo}, timeout=1.0)
                now = time.monotonic()
                if done:
                    break
                if now - started > args.wait_timeout:
                    raise TimeoutError(f"kehu import orders still running after {args.wait_timeout:.0f} s")
                if now - last_print >= PROGRESS_EVERY_S:
                    last_print = now
                    processed = await pg.fetchval(COUNT_ORDERS)
                    print(f"    [insights] {processed:,} orders processed while importing ({now - started:.0f} s)",
                          flush=True)
            run.returncode = await proc.wait()
        finally:  # interrupted or timed out: the import must not outlive the benchmark
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            echo.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, ValueError):
                await echo
        imported = time.monotonic()
        run.import_wall_s = imported - started
        run.summary = "\n".join(out)
        parse_summary(run, run.summary)
        if run.returncode == 2 or not run.orders:
            raise RuntimeError(f"kehu import orders failed (exit code {run.returncode}):\n{run.summary}")

        last_print, last_count, last_at = imported, 0, imported
        while True:
            processed = await pg.fetchval(COUNT_ORDERS)
            now = time.monotonic()
            if processed >= run.orders:
                break
            if now - imported > args.wait_timeout:
                raise TimeoutError(f"insights processed {processed:,} of {run.orders:,} orders "
                                   f"{args.wait_timeout:.0f} s after the import returned")
            if now - last_print >= PROGRESS_EVERY_S:
                rate = (processed - last_count) / (now - last_at) if now > last_at else 0.0
                left = f", ~{(run.orders - processed) / rate:.0f} s to go" if rate > 0 else ""
                print(f"    [insights] {processed:,} of {run.orders:,} orders processed, {rate:,.0f}/s "
                      f"({now - imported:.0f} s after the import){left}", flush=True)
                last_print, last_count, last_at = now, processed, now
            await asyncio.sleep(args.poll_s)
        finished = time.monotonic()
        run.processed = processed
        run.wait_after_import_s = finished - imported
        run.end_to_end_s = finished - started
        after = await asyncio.to_thread(cpu_sample, up)
        run.machine_busy_s = _busy_s() - busy_before
        run.recycles = up.recycles - recycles_before
        run.cpu_s = cpu_by_role(before, after)
    finally:
        await pg.close()
    return run


def segments_check(up: Instance, customers: int, spent: float) -> str:
    """GET /segments: customers with a purchase and their total spent, against what was imported."""
    response = httpx.get(f"{up.url('insights')}/segments", headers=up.headers(), timeout=120)
    response.raise_for_status()
    items = response.json()["items"]
    buyers = sum(int(i["customers"]) for i in items if i["segment"] != "prospect")
    total = sum(float(i["spent"]) for i in items)
    ok = buyers == customers and abs(total - spent) < 0.01 * max(1, len(items))
    return (f"GET /segments {'agrees' if ok else 'DISAGREES'}: {buyers:,} customers with a purchase "
            f"(imported {customers:,}), spent {total:,.2f} (imported {spent:,.2f})")


# -- data ----------------------------------------------------------------------------------------


class LimitedRows:
    """A csv writer that keeps the header and the rows of customers 1..limit (all when limit is None)."""

    def __init__(self, out: Any, limit: int | None) -> None:
        self.out = out
        self.limit = limit
        self.rows = -1  # the header is not a row

    def writerow(self, row: Iterable[str], /) -> Any:
        fields = list(row)
        if self.rows >= 0 and self.limit is not None and int(fields[0]) > self.limit:
            return None
        self.rows += 1
        return self.out.writerow(fields)


def write_csv(source: Path, path: Path, until: date | None, limit: int | None) -> int:
    with path.open("w", encoding="utf-8", newline="") as target:
        rows = LimitedRows(csv.writer(target, lineterminator="\n"), limit)
        convert(source, rows, until)
    return rows.rows


def load_transactions(source: Path, limit: int | None) -> research.Transactions:
    """CDNOW as customer-days (research.load); customer index = CDNOW id - 1 (ids are 00001..23570)."""
    tx = research.load(source)
    if limit is not None:
        keep = tx.customer < limit
        tx = research.Transactions(customer=tx.customer[keep], day=tx.day[keep], value=tx.value[keep])
    return tx


def check_ids(source: Path) -> None:
    ids = set()
    with source.open(encoding="ascii") as lines:
        next(lines)
        for line in lines:
            if line.strip():
                ids.add(int(line.split()[0]))
    if ids != set(range(1, len(ids) + 1)):
        raise SystemExit(f"{source}: customer ids are not 1..{len(ids)}; the index mapping would be wrong")


# -- measures ------------------------------------------------------------------------------------


def auc(score: np.ndarray, churned: np.ndarray) -> float:
    """Mann-Whitney AUC, ties counted one half: P(score of a churner > score of a buyer) + ½ P(equal).

    With mid-ranks (ties share their average rank), U = Σ ranks of churners - n₁(n₁+1)/2 counts each
    (churner, buyer) pair 1 when the churner scores higher and ½ when they tie.
    """
    churned = np.asarray(churned, dtype=bool)
    n_pos = int(churned.sum())
    n_neg = churned.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(np.asarray(score, dtype=np.float64), method="average")
    return float((ranks[churned].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def top_share(revenue: np.ndarray, keys: Sequence[np.ndarray], share: float = TOP_SHARE) -> float:
    """Share of the revenue held by the first ``round(share * n)`` customers when sorted by ``keys``
    (each descending, the first key first); the last key should be unique (e.g. minus the id) so
    ties are broken deterministically."""
    k = round(share * revenue.size)
    order = np.lexsort([-np.asarray(key, dtype=np.float64) for key in reversed(keys)])
    total = float(revenue.sum())
    return float(revenue[order[:k]].sum() / total) if total > 0 else float("nan")


def quintile(values: np.ndarray) -> np.ndarray:
    """Quintile score 1..5 by rank (ties share their average rank; 5 = highest values)."""
    return np.ceil(stats.rankdata(values) / values.size * 5).clip(1, 5)


@dataclass
class Export:
    ref: list[str]
    churn_risk: np.ndarray
    expected_value: np.ndarray
    purchase_days: np.ndarray
    total_spent: np.ndarray


def parse_export(text: str) -> Export:
    reader = csv.DictReader(io.StringIO(text))
    refs: list[str] = []
    churn, value, days, spent = [], [], [], []
    for row in reader:
        if not row["customer_ref"]:
            continue
        refs.append(row["customer_ref"])
        churn.append(float(row["churn_risk"]))
        value.append(float(row["expected_value_90d"] or 0))
        days.append(int(row["purchase_days"]))
        spent.append(float(row["total_spent"] or 0))
    return Export(refs, np.array(churn), np.array(value), np.array(days), np.array(spent))


@dataclass
class Quality:
    cutoff: date
    limit: int | None
    customers: int
    repeat: int
    churn_repeat: float
    churn_all: float
    holdout_days: float
    missing: int
    mismatched: int
    auc: dict[str, tuple[float, float]]  # name -> (repeat buyers, all customers)
    capture: dict[str, float]
    fits: list[str]
    kehu_model: dict[str, Any]
    lifetimes_note: str
    stages_s: dict[str, float]
    import_run: ImportRun
    segments: str
    logs: dict[str, Any]
    checks: list[tuple[bool | None, str]] = field(default_factory=list)


KEHU_CHURN = "**kehu `churn_risk`** (export)"
BG_OURS = "BG/NBD, kehu's `fit_bg_nbd`: −E[purchase days in holdout]"
BG_LIFETIMES = "BG/NBD, `lifetimes` {version}: −E[purchase days in holdout]"
PNBD = "Pareto/NBD, kehu's `fit_pareto_nbd`: −E[purchase days in holdout]"
RECENCY = "recency (days since the last purchase)"
KEHU_VALUE = "**kehu `expected_value_90d`** (export)"
RFM = "RFM score (R+F+M quintiles; ties → R, F, M, id)"
RFM_SHARED = "RFM score, ties at the boundary shared (expected under random order)"
CEILING = "ceiling (top 20 % by holdout revenue itself)"


def run_lifetimes(python: Path, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, H: float,
                  timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    if not python.exists():
        return None, f"skipped: no {python} (see the module doc to create the throwaway venv)"
    payload = json.dumps({"x": x.tolist(), "t_x": t_x.tolist(), "T": T.tolist(), "H": H})
    try:
        done = subprocess.run([str(python), "-c", LIFETIMES_SCRIPT], input=payload, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"skipped: {type(exc).__name__}: {exc}"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"skipped: {python} failed ({tail[:200]})"
    result = json.loads(done.stdout)
    return result, f"ran in the throwaway venv {python.parent.parent}"


def verdict(ok: bool | None) -> str:
    return "NO VERDICT (a subset of the data)" if ok is None else "PASS" if ok else "FAIL"


def fmt_params(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


@contextlib.contextmanager
def stopped_after(up: Instance, home: Path, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Runs the block against a started `kehu up`, then stops it however the block ended, reads the
    warnings and errors of its logs into the dict it yielded (and prints them after a failure), and
    removes its home unless --keep-home."""
    logs: dict[str, Any] = {"counts": {}, "samples": []}
    failed = False
    try:
        yield logs
    except BaseException:
        failed = True
        raise
    finally:
        up.stop()
        logs.update(scan_logs(home))
        if failed:
            print("\n".join(["  kehu up stopped after a failure.", *describe_logs(logs)]), flush=True)
        if args.keep_home:
            print(f"  KEHU_HOME kept: {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)


def quality(args: argparse.Namespace) -> Quality:
    cutoff: date = args.cutoff
    stages: dict[str, float] = {}
    mark = time.perf_counter()
    tx = load_transactions(args.source, args.limit_customers)
    co = research.cohort(tx, cutoff.isoformat(), HOLDOUT_END.isoformat())
    known = np.flatnonzero(co.x >= 0)  # customers with a purchase by the cutoff
    stages["load CDNOW, calibration summaries"] = time.perf_counter() - mark

    home = Path(tempfile.mkdtemp(prefix="kehu-cdnow-quality-"))
    csv_path = home / f"cdnow-until-{cutoff}.csv"
    mark = time.perf_counter()
    rows = write_csv(args.source, csv_path, cutoff, args.limit_customers)
    stages["CSV conversion"] = time.perf_counter() - mark
    print(f"  {rows:,} rows up to {cutoff} of {known.size:,} customers written to {csv_path.name}", flush=True)
    up = Instance(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    up.stop_timeout_s = args.stop_timeout
    with stopped_after(up, home, args) as logs:
        mark = time.perf_counter()
        up.start()
        run_async(up.wait_up(args.startup_timeout))
        stages["kehu up (start)"] = time.perf_counter() - mark
        print(f"  kehu up started in {stages['kehu up (start)']:.1f} s (home {home})", flush=True)
        run = run_async(import_and_wait(up, csv_path, rows, args))
        stages["import (`kehu import orders`)"] = run.import_wall_s
        stages["wait for insights after the import"] = run.wait_after_import_s
        print(f"  import {run.import_wall_s:.1f} s, insights done {run.wait_after_import_s:.1f} s later "
              f"({run.orders:,} orders)", flush=True)
        total_spent = float(np.sum(co.mean_all[known] * (co.x[known] + 1)))
        segments = segments_check(up, known.size, total_spent)
        print(f"  {segments}", flush=True)

        mark = time.perf_counter()
        with httpx.Client(headers=up.headers(), timeout=httpx.Timeout(30, read=args.wait_timeout)) as http:
            response = http.post(f"{up.url('insights')}/model/refit", params={"as_of": cutoff.isoformat()})
            if response.status_code != 200:
                raise RuntimeError(f"POST /model/refit: {response.status_code} {response.text[:300]}")
            kehu_model = response.json()
            stages["POST /model/refit?as_of"] = time.perf_counter() - mark
            mark = time.perf_counter()
            response = http.get(f"{up.url('insights')}/export/insights.csv", params={"as_of": cutoff.isoformat()})
            if response.status_code != 200:
                raise RuntimeError(f"GET /export/insights.csv: {response.status_code} {response.text[:300]}")
            export = parse_export(response.text)
            stages["GET /export/insights.csv?as_of"] = time.perf_counter() - mark
        print(f"  refit {stages['POST /model/refit?as_of']:.1f} s, export of {len(export.ref):,} customers "
              f"{stages['GET /export/insights.csv?as_of']:.1f} s", flush=True)

    mark = time.perf_counter()
    # kehu's scores, aligned with the cohort (customer index = CDNOW id - 1)
    n_all = co.x.size
    churn_risk = np.full(n_all, np.nan)
    value = np.full(n_all, np.nan)
    days = np.full(n_all, -1)
    spent = np.full(n_all, np.nan)
    for i, ref in enumerate(export.ref):
        j = int(ref) - 1
        if 0 <= j < n_all:
            churn_risk[j], value[j] = export.churn_risk[i], export.expected_value[i]
            days[j], spent[j] = export.purchase_days[i], export.total_spent[i]
    present = known[~np.isnan(churn_risk[known])]
    missing = known.size - present.size
    calib_total = co.mean_all * (co.x + 1)
    mismatched = int(np.sum((days[present] != co.x[present] + 1)
                            | (np.abs(spent[present] - calib_total[present]) > 0.011)))

    x, t_x, T = co.x[present], co.t_x[present], co.T[present]
    H = co.holdout_length
    churned = co.holdout_days[present] == 0
    repeat = x >= 1
    revenue = co.holdout_revenue[present]
    ids = present.astype(np.float64)

    fits: list[str] = []
    bg_params, bg_ll = R.fit_bg_nbd(x, t_x, T)
    bg = R.Model("bg_nbd", bg_params, None, bg_ll, int(x.size))
    fits.append(f"BG/NBD (`fit_bg_nbd`, days): {fmt_params(bg_params)}, LL {bg_ll:,.1f}")
    pn_params, pn_ll = R.fit_pareto_nbd(x, t_x, T)
    pn = R.Model("pareto_nbd", pn_params, None, pn_ll, int(x.size))
    fits.append(f"Pareto/NBD (`fit_pareto_nbd`, days): {fmt_params(pn_params)}, LL {pn_ll:,.1f}")
    scores: dict[str, np.ndarray] = {
        KEHU_CHURN: churn_risk[present],
        BG_OURS: -R.expected_purchases_array(bg, x, t_x, T, H),
    }
    lt, lifetimes_note = run_lifetimes(args.lifetimes_python, x, t_x, T, H, args.wait_timeout)
    if lt is not None:
        name = BG_LIFETIMES.format(version=lt["version"])
        scores[name] = -np.asarray(lt["expected"], dtype=np.float64)
        lt_ll = float(R.log_likelihood_array("bg_nbd", lt["params"], x, t_x, T).sum())  # same units as ours
        fits.append(f"BG/NBD (`lifetimes` {lt['version']}, days): {fmt_params(lt['params'])}, LL {lt_ll:,.1f}")
    scores[PNBD] = -R.expected_purchases_array(pn, x, t_x, T, H)
    scores[RECENCY] = T - t_x
    aucs = {name: (auc(s[repeat], churned[repeat]), auc(s, churned)) for name, s in scores.items()}

    r_score = quintile(-(T - t_x))
    f_score = quintile(x + 1)
    m_score = quintile(co.mean_all[present])
    rfm = r_score + f_score + m_score
    captures = {
        KEHU_VALUE: top_share(revenue, [value[present], -ids]),
        RFM: top_share(revenue, [rfm, r_score, f_score, m_score, -ids]),
        RFM_SHARED: research.capture(rfm, revenue),
        CEILING: top_share(revenue, [revenue, -ids]),
    }
    stages["references and measures"] = time.perf_counter() - mark

    result = Quality(
        cutoff=cutoff, limit=args.limit_customers, customers=int(present.size), repeat=int(repeat.sum()),
        churn_repeat=float(churned[repeat].mean()) if repeat.any() else float("nan"),
        churn_all=float(churned.mean()), holdout_days=H, missing=int(missing), mismatched=mismatched,
        auc=aucs, capture=captures, fits=fits, kehu_model=kehu_model, lifetimes_note=lifetimes_note,
        stages_s=stages, import_run=run, segments=segments, logs=logs,
    )
    k_rep, k_all = aucs[KEHU_CHURN]
    for name in [n for n in aucs if n.startswith("BG/NBD")]:
        b_rep, b_all = aucs[name]
        short = "lifetimes" if "lifetimes" in name else "fit_bg_nbd"
        result.checks.append((k_rep >= b_rep, f"churn_risk AUC on repeat buyers {k_rep:.4f} ≥ BG/NBD ({short}) {b_rep:.4f}"))
        result.checks.append((k_all >= b_all, f"churn_risk AUC on all customers {k_all:.4f} ≥ BG/NBD ({short}) {b_all:.4f}"))
    result.checks.append((captures[KEHU_VALUE] >= captures[RFM],
                          f"expected_value_90d top-20 % revenue share {captures[KEHU_VALUE]:.4f} ≥ RFM {captures[RFM]:.4f}"))
    result.checks.append((missing == 0 and mismatched == 0,
                          f"export complete and consistent with the data: {missing} customer(s) missing, "
                          f"{mismatched} with purchase days or total spent differing from the CSV"))
    return result


def quality_markdown(q: Quality) -> list[str]:
    run = q.import_run
    lim = f", only customers 1–{q.limit}" if q.limit else ""
    model = q.kehu_model.get("model", {})
    lines = [
        f"### Split A (quality): cutoff {q.cutoff}, holdout {q.cutoff.fromordinal(q.cutoff.toordinal() + 1)} "
        f"to {HOLDOUT_END} ({q.holdout_days:.0f} days){lim}",
        "",
        f"- {q.customers:,} customers with a purchase by the cutoff, {q.repeat:,} of them repeat buyers (≥ 2 purchase "
        f"days); churned (no purchase in the holdout): {q.churn_repeat:.1%} of repeat buyers, {q.churn_all:.1%} of all.",
        f"- kehu: {run.rows:,} CSV rows → `kehu import orders` ({run.orders:,} orders, {run.bad} "
        f"bad rows) into a fresh `kehu up` with KEHU_INSIGHTS_CLOCK=events; `POST /model/refit?as_of={q.cutoff}` "
        f"fitted {model.get('kind', '?')} {fmt_params(model.get('params', {}))}"
        + (f", Gamma-Gamma {fmt_params(model['spend'])}" if model.get("spend") else "")
        + f"; `GET /export/insights.csv?as_of={q.cutoff}` listed {q.customers:,} of them"
        f" ({q.missing} missing, {q.mismatched} inconsistent with the data).",
        f"- {q.segments}.",
        f"- Load: the machine was busy {run.machine_busy_s:.1f} CPU-s during the import and the wait "
        f"({max(run.machine_busy_s - sum(run.cpu_s.values()), 0.0):.1f} s of it outside this benchmark); "
        f"1-minute load average before the import {run.load_before:.2f}; embedded broker recycles in that window: "
        f"{run.recycles}.",
        "- References, fitted in this run on the calibration data only (x = repeat purchase days, t_x, T in days, "
        "T = cutoff − first purchase day): " + "; ".join(q.fits) + f". `lifetimes` reference: {q.lifetimes_note}.",
        "",
        "| churn score (higher = more likely to churn) | AUC repeat buyers | AUC all customers |",
        "| --- | ---: | ---: |",
    ]
    for name, (a_rep, a_all) in q.auc.items():
        lines.append(f"| {name} | {a_rep:.4f} | {a_all:.4f} |")
    lines.append(f"| *issue 3's figures (lifetimes BG/NBD; recency)* | *≈{ISSUE_FIGURES['bg_repeat']}; "
                 f"≈{ISSUE_FIGURES['recency_repeat']}* | *≈{ISSUE_FIGURES['bg_all']}* |")
    lines += ["", "| value score: top 20 % of all customers | share of holdout revenue |", "| --- | ---: |"]
    for name, share in q.capture.items():
        lines.append(f"| {name} | {share:.4f} |")
    lines.append(f"| *issue 3's figures (RFM; ceiling)* | *≈{ISSUE_FIGURES['rfm']}; ≈{ISSUE_FIGURES['ceiling']}* |")
    lines += ["", "Targets (same run):", ""]
    lines += [f"- {verdict(ok)}: {text}" for ok, text in q.checks]
    lines += ["", "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in q.stages_s.items()]
    lines += ["", *describe_logs(q.logs), ""]
    return lines


# -- performance ---------------------------------------------------------------------------------


@dataclass
class Performance:
    rows: int
    csv_s: float
    startup_s: float
    run: ImportRun
    replay: dict[str, Any]
    replay_wall_s: float
    refit_replay: dict[str, Any]
    refit_replay_wall_s: float
    settle_s: tuple[float, float]  # waited before each replay for the machine to settle
    drain_s: float  # until every outbox was published after the import
    backlog: dict[str, int]  # unpublished outbox rows when the import was done
    replay_orders_after: int
    replay_recycles: int
    recycles: int
    segments: str
    logs: dict[str, Any]
    poll_s: float
    limited: bool
    checks: list[tuple[bool | None, str]] = field(default_factory=list)


def replay(up: Instance, args: argparse.Namespace, *options: str) -> tuple[dict[str, Any], float]:
    """`kehu replay insights` and its wall clock; the result gets ``cpu_s`` (CPU seconds per process
    group over the command, the fold workers counted with insights, which reaps them) and
    ``machine_busy_s`` (every process on the machine)."""
    before, busy_before = cpu_sample(up), _busy_s()
    started = time.perf_counter()
    done = subprocess.run([str(args.kehu), "replay", "insights", *options], env=up.env(), capture_output=True,
                          text=True, timeout=args.wait_timeout, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"kehu replay insights: exit code {done.returncode}: {done.stdout[-500:]} {done.stderr[-500:]}")
    result = json.loads(done.stdout)
    result["cpu_s"] = cpu_by_role(before, cpu_sample(up))
    result["machine_busy_s"] = _busy_s() - busy_before
    print(f"  {' '.join(['replay', *options])}: {result.get('events', 0):,} events in {wall:.1f} s wall "
          f"({result.get('events_per_second', 0):,} events/s by its own clock), {result.get('reused_fits')} of "
          f"{result.get('refits')} fits reused, seconds {result.get('seconds')}, "
          f"CPU {({k: round(v, 1) for k, v in result['cpu_s'].items() if v})}", flush=True)
    return result, wall


async def count_orders(up: Instance) -> int:
    pg = await asyncpg.connect(**up.insights_dsn())
    try:
        return int(await pg.fetchval(COUNT_ORDERS))
    finally:
        await pg.close()


def wait_until_idle(args: argparse.Namespace) -> None:
    """Up to --wait-idle seconds until the 1-minute load average is below --idle-load (a shared machine)."""
    if args.wait_idle <= 0:
        return
    deadline = time.monotonic() + args.wait_idle
    last_print = 0.0
    while (load := os.getloadavg()[0]) >= args.idle_load:
        now = time.monotonic()
        if now >= deadline:
            print(f"  load average still {load:.2f} after {args.wait_idle:.0f} s; measuring anyway", flush=True)
            return
        if now - last_print >= 60:
            print(f"  waiting for the machine to quieten: load average {load:.2f} ≥ {args.idle_load:g} "
                  f"({deadline - now:.0f} s left)", flush=True)
            last_print = now
        time.sleep(5)


def performance(args: argparse.Namespace) -> Performance:
    home = Path(tempfile.mkdtemp(prefix="kehu-cdnow-perf-"))
    csv_path = home / "cdnow-master.csv"
    mark = time.perf_counter()
    rows = write_csv(args.source, csv_path, None, args.limit_customers)
    csv_s = time.perf_counter() - mark
    print(f"  {rows:,} rows written to {csv_path.name} in {csv_s:.1f} s", flush=True)
    tx = load_transactions(args.source, args.limit_customers)
    customers = int(tx.customer.max()) + 1
    spent = float(tx.value.sum())
    up = Instance(args.kehu, home, args.port_base, args.kafka_port, echo=args.verbose)
    up.stop_timeout_s = args.stop_timeout
    with stopped_after(up, home, args) as logs:
        mark = time.perf_counter()
        up.start()
        run_async(up.wait_up(args.startup_timeout))
        startup_s = time.perf_counter() - mark
        print(f"  kehu up started in {startup_s:.1f} s (home {home})", flush=True)
        run = run_async(import_and_wait(up, csv_path, rows, args))
        print(f"  end to end {run.end_to_end_s:.1f} s = {run.orders / run.end_to_end_s:,.0f} orders/s "
              f"(import {run.import_wall_s:.1f} s, insights done {run.wait_after_import_s:.1f} s later)", flush=True)
        segments = segments_check(up, customers, spent)
        print(f"  {segments}", flush=True)
        drained, backlog = run_async(drain_outboxes(up))
        print(f"  outboxes published {drained:.0f} s after the import (unpublished then: {backlog})", flush=True)
        settled = settle()
        print(f"  kehu replay insights ... (after {settled:.0f} s for the machine to settle)", flush=True)
        before_replay = up.recycles
        result, wall = replay(up, args)
        replay_recycles = up.recycles - before_replay
        refit_settled = settle()
        print(f"  kehu replay insights --refit ... (after {refit_settled:.0f} s to settle)", flush=True)
        refit_result, refit_wall = replay(up, args, "--refit")
        after = run_async(count_orders(up))
    perf = Performance(rows=rows, csv_s=csv_s, startup_s=startup_s, run=run, replay=result, replay_wall_s=wall,
                       refit_replay=refit_result, refit_replay_wall_s=refit_wall,
                       settle_s=(settled, refit_settled), drain_s=drained, backlog=backlog,
                       replay_orders_after=after, segments=segments, logs=logs,
                       replay_recycles=replay_recycles, recycles=up.recycles,
                       poll_s=args.poll_s, limited=args.limit_customers is not None)
    rate = run.orders / run.end_to_end_s if run.end_to_end_s else 0.0
    replay_rate = float(result.get("events_per_second") or 0)
    e2e_ok = run.end_to_end_s < E2E_TARGET_S and rate >= E2E_TARGET_RATE
    replay_ok = replay_rate >= REPLAY_TARGET_RATE
    perf.checks.append((None if perf.limited else e2e_ok,
                        f"import end to end {run.end_to_end_s:.1f} s < {E2E_TARGET_S:.0f} s, {rate:,.0f} orders/s ≥ "
                        f"{E2E_TARGET_RATE:,.0f}"))
    perf.checks.append((None if perf.limited else replay_ok,
                        f"`kehu replay insights` {replay_rate:,.0f} events/s ≥ {REPLAY_TARGET_RATE:,.0f} "
                        f"(events / the replay's own total seconds; by the command's wall clock "
                        f"{result.get('events', 0) / wall:,.0f} events/s)"))
    refit_rate = float(refit_result.get("events_per_second") or 0)
    perf.checks.append((None if perf.limited else refit_rate >= REPLAY_TARGET_RATE,
                        f"`kehu replay insights --refit` (every population model fitted anew) {refit_rate:,.0f} "
                        f"events/s ≥ {REPLAY_TARGET_RATE:,.0f} (by the command's wall clock "
                        f"{refit_result.get('events', 0) / refit_wall:,.0f} events/s)"))
    perf.checks.append((after == run.orders,
                        f"after the replays the timeline holds {after:,} OrderPlaced of {run.orders:,} orders imported"))
    return perf


CPU_ROLES = ("broker", "postgres", "contacts", "orders", "insights", "tickets", "supervisor", "loadgen", "other")


def performance_markdown(p: Performance) -> list[str]:
    run = p.run
    rate = run.orders / run.end_to_end_s if run.end_to_end_s else 0.0
    overhead = run.import_wall_s - sum(run.stages_s.values())
    lines = [
        f"### Performance: {'a subset of ' if p.limited else 'the whole '}CDNOW master ({p.rows:,} rows), "
        "fresh `kehu up` (events clock)",
        "",
        f"- Import: {run.read:,} rows read, {run.valid:,} valid, {run.bad:,} bad; {run.customers_created:,} customers "
        f"and {run.orders_created:,} orders created ({run.customers_existing:,} / {run.orders_existing:,} already there).",
        "- End to end = from launching `kehu import orders` to insights having every order on its timeline "
        "(polled every "
        f"{p.poll_s:g} s in the insights database; the CSV conversion is the benchmark's and not counted).",
        f"- {p.segments}.",
        "",
        "| stage | seconds | rate |",
        "| --- | ---: | ---: |",
        f"| CSV conversion (benchmarks/cdnow_csv.py, not counted) | {p.csv_s:.1f} | {p.rows / p.csv_s:,.0f} rows/s |",
        f"| `kehu up` start (not counted) | {p.startup_s:.1f} | |",
    ]
    per_stage = {"parse": run.read, "customers": run.customers_created + run.customers_existing, "orders": run.orders}
    for name, seconds in run.stages_s.items():
        n = per_stage.get(name, 0)
        unit = "rows" if name == "parse" else name
        lines.append(f"| import: {name} | {seconds:.1f} | {n / seconds:,.0f} {unit}/s |" if seconds > 0
                     else f"| import: {name} | {seconds:.1f} | |")
    lines += [
        f"| import: process start-up and exit | {overhead:.1f} | |",
        f"| import total (`kehu import orders` wall clock) | {run.import_wall_s:.1f} | "
        f"{run.orders / run.import_wall_s:,.0f} orders/s |",
        f"| wait for insights after the import returned | {run.wait_after_import_s:.1f} | |",
        f"| **end to end** | **{run.end_to_end_s:.1f}** | **{rate:,.0f} orders/s** |",
        "",
        "CPU seconds over the end-to-end window, per process group (`loadgen` = this benchmark and the "
        "`kehu import` child it reaped):",
        "",
        "| " + " | ".join(CPU_ROLES) + " | total |",
        "| " + " | ".join("---:" for _ in CPU_ROLES) + " | ---: |",
        "| " + " | ".join(f"{run.cpu_s.get(r, 0.0):.1f}" for r in CPU_ROLES) + f" | {sum(run.cpu_s.values()):.1f} |",
        "",
        f"The whole machine was busy {run.machine_busy_s:.1f} CPU-s in that window "
        f"({run.machine_busy_s / run.end_to_end_s:.2f} of {os.cpu_count()} cores), of which "
        f"{max(run.machine_busy_s - sum(run.cpu_s.values()), 0.0):.1f} s outside this benchmark (other work on the "
        f"shared machine); 1-minute load average before the import: {run.load_before:.2f}.",
        "",
        f"Embedded broker recycles begun by `kehu up` (KEHU_BROKER_RECYCLE_RECORDS): {run.recycles} in the "
        f"end-to-end window, {p.replay_recycles} during the replay, {p.recycles} in the whole life of the instance.",
        "",
    ]
    lines += [f"Before the replays: the relays had published every outbox {p.drain_s:.0f} s after the import "
              f"(unpublished rows when it was done: {p.backlog}).", ""]
    runs = (("`kehu replay insights`", p.replay, p.replay_wall_s, p.settle_s[0]),
            ("`kehu replay insights --refit`", p.refit_replay, p.refit_replay_wall_s, p.settle_s[1]))
    for title, result, wall, settled in runs:
        lines += [
            f"{title} (started once the machine's cores were less than a quarter busy, after {settled:.0f} s): "
            f"{result.get('events', 0):,} events of {result.get('customers', 0):,} customers, "
            f"{result.get('alerts', 0):,} alerts, {result.get('refits', 0)} refits of which "
            f"{result.get('reused_fits', 0)} reused from the stored fits of the same inputs, "
            f"{result.get('fold_processes', 1)} fold processes, {len(result.get('skipped', []))} skipped; "
            f"{wall:.1f} s wall clock of the command.",
            "",
            "| replay stage | seconds |",
            "| --- | ---: |",
        ]
        lines += [f"| {name} | {value:.2f} |" for name, value in result.get("seconds", {}).items()]
        lines += [f"| **events/s** (events / total) | **{result.get('events_per_second', 0):,}** |", ""]
        cpu = result.get("cpu_s", {})
        lines += [
            "CPU seconds over the command, per process group (the fold workers with insights):", "",
            "| " + " | ".join(CPU_ROLES) + " | total | whole machine |",
            "| " + " | ".join("---:" for _ in CPU_ROLES) + " | ---: | ---: |",
            "| " + " | ".join(f"{cpu.get(r, 0.0):.1f}" for r in CPU_ROLES)
            + f" | {sum(cpu.values()):.1f} | {result.get('machine_busy_s', 0.0):.1f} |", "",
        ]
    lines += ["Targets:", ""]
    lines += [f"- {verdict(ok)}: {text}" for ok, text in p.checks]
    lines += ["", *describe_logs(p.logs), ""]
    return lines


# -- running -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=SOURCE, help=f"CDNOW_master.txt (default {SOURCE})")
    parser.add_argument("--cutoff", type=date.fromisoformat, default=date(1997, 9, 30),
                        help="last day of the calibration period (holdout: the next day to 1998-06-30)")
    parser.add_argument("--skip-quality", action="store_true", help="skip split A")
    parser.add_argument("--skip-performance", action="store_true", help="skip the whole-master import and replay")
    parser.add_argument("--write", action="store_true",
                        help="write the run to benchmarks/results/cdnow-<UTC time>.md (RESULTS.md is the curated page)")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results", help="where --write puts the run")
    parser.add_argument("--keep-home", action="store_true", help="keep each KEHU_HOME (logs, CSV) for inspection")
    parser.add_argument("--port-base", type=int, default=28101, help="KEHU_HTTP_PORT_BASE of the instance (28101)")
    parser.add_argument("--kafka-port", type=int, default=29393, help="KEHU_EMBEDDED_KAFKA_PORT (29393)")
    parser.add_argument("--limit-customers", type=int, default=None, metavar="N",
                        help="only CDNOW customers 1..N (a quick dry run; no performance verdict)")
    parser.add_argument("--wait-timeout", type=float, default=900.0,
                        help="seconds for the import, and then for insights to catch up, each (900)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds for `kehu up` to start (120)")
    parser.add_argument("--stop-timeout", type=float, default=60.0, help="seconds after SIGINT before SIGTERM (60)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                        help="before the performance part, wait up to S s for the load average to drop (0: no)")
    parser.add_argument("--idle-load", type=float, default=1.0, help="the load average --wait-idle waits for (1.0)")
    parser.add_argument("--poll-s", type=float, default=0.5, help="completion polling interval (0.5 s)")
    parser.add_argument("--lifetimes-python", type=Path, default=Path("/tmp/lt/bin/python"),
                        help="python of a throwaway venv with lifetimes (skipped when missing)")
    parser.add_argument("--kehu", type=Path, default=default_kehu(), help="the kehu executable (.venv/bin/kehu)")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the output of `kehu up`")
    args = parser.parse_args(argv)
    if not FIRST_DAY <= args.cutoff < HOLDOUT_END:
        parser.error(f"--cutoff must be from {FIRST_DAY} to the day before {HOLDOUT_END}")
    if args.limit_customers is not None and args.limit_customers < 100:
        parser.error("--limit-customers must be at least 100 (insights refits only on enough customers)")
    if args.skip_quality and args.skip_performance:
        parser.error("nothing to do: both parts skipped")
    args.command_line = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv)
    return args


def machine_lines(info: dict[str, Any]) -> list[str]:
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else info["cores"]
    ram = psutil.virtual_memory().total / 2**30
    return [f"- Machine: {nproc} cores (nproc), {info['cpu_model']}, {ram:.1f} GiB RAM; {info['platform']}; "
            f"Python {info['python']}; kehu {info['kehu_commit']}"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.kehu.exists():
        print(f"no kehu executable at {args.kehu} (make install, or --kehu)", file=sys.stderr)
        return 2
    require_source(args.source)
    check_ids(args.source)
    info = machine_info()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    overrides = {k: v for k, v in sorted(os.environ.items()) if k.startswith("KEHU_")}
    head = [
        f"## CDNOW benchmark (issue 3), {stamp}",
        "",
        f"- Command: `{args.command_line}`",
        *machine_lines(info),
        f"- Data: {args.source} (23,570 customers, 69,659 rows, 1997-01-01 to 1998-06-30).",
    ]
    if overrides:
        head.append(f"- Environment overrides passed to `kehu up`: {', '.join(f'{k}={v}' for k, v in overrides.items())}")
    head.append("")
    blocks: list[list[str]] = []
    ok = True
    started = time.perf_counter()
    print("\n".join(head), flush=True)
    try:
        if not args.skip_quality:
            print(f"split A: cutoff {args.cutoff}, holdout to {HOLDOUT_END}", flush=True)
            q = quality(args)
            block = quality_markdown(q)
            blocks.append(block)
            ok = ok and all(c is not False for c, _ in q.checks)
            print("\n" + "\n".join(block), flush=True)
        if not args.skip_performance:
            print("performance: the whole master", flush=True)
            wait_until_idle(args)
            p = performance(args)
            block = performance_markdown(p)
            blocks.append(block)
            ok = ok and all(c is not False for c, _ in p.checks)
            print("\n" + "\n".join(block), flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted; kehu up has been stopped; nothing written", flush=True)
        return 130
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError, asyncpg.PostgresError) as exc:
        print(f"\nbenchmark failed: {type(exc).__name__}: {exc}\nkehu up has been stopped; nothing written "
              "(--keep-home keeps its logs)", flush=True)
        return 2
    print(f"(benchmark total {time.perf_counter() - started:.0f} s)")
    if args.write:
        args.results_dir.mkdir(parents=True, exist_ok=True)
        raw = args.results_dir / f"cdnow-{datetime.now(UTC).strftime('%Y-%m-%dT%H%MZ')}.md"
        raw.write_text("\n".join(head + [line for block in blocks for line in block]).rstrip("\n") + "\n")
        print(f"wrote {raw}; put its headline figures in {HERE / 'RESULTS.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
