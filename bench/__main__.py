"""Benchmark runner: `python -m bench [--only NAME]` (or `make bench`).

Runs every `bench/bench_*.py` module's `BENCHMARKS` (see bench/__init__.py) against a
database of its own, `commerce_bench` (created and migrated when missing, freely wiped by
the benchmarks, and vacuumed before each one), with DEBUG off; prints a markdown table of
the results (one `bench.measure.Result` a row) against their baselines and writes it to
bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.measure import ROUNDS, Benchmark, Result

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "latest.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/commerce"
BENCH_DATABASE = "commerce_bench"


def bench_database_url() -> str:
    """BENCH_DATABASE_URL, or DATABASE_URL pointed at the `commerce_bench` database."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    parts = urlsplit(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    return urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"created database {name}", file=sys.stderr)


def vacuum(url: str) -> None:
    """VACUUM ANALYZE the benchmark database, as autovacuum keeps a production database:
    every benchmark starts without the dead rows and stale statistics the ones before it
    left (PostgreSQL on a development or CI machine may run with autovacuum off, and dead
    index entries then slow every later statement that reads past them)."""
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(scheme="postgresql")), autocommit=True) as conn:
        # A lock someone else holds ends the run with an error instead of a hang.
        conn.execute("SET lock_timeout = '60s'")
        conn.execute("VACUUM (ANALYZE)")


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "commerce_project.settings.base"
    # Measure what production runs: DEBUG records every query and times every transaction.
    os.environ["DEBUG"] = "false"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def discover() -> list[tuple[str, Benchmark]]:
    found = []
    for module_info in sorted(pkgutil.iter_modules([str(BENCH_DIR)]), key=lambda m: m.name):
        if not module_info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"bench.{module_info.name}")
        for benchmark in getattr(module, "BENCHMARKS", []):
            found.append((f"{module_info.name}.{benchmark.__name__}", benchmark))
    return found


def render(results: list[Result], context: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        context,
        "",
        f"Ratio: times better than the baseline (>1 is better; for latencies it is "
        f"baseline time / our time): the median over {ROUNDS} rounds, each measuring both "
        f"sides in turn, of the ratio within the round; in brackets the lowest and highest "
        f"ratio of a round. Result and baseline are medians too.",
        "",
        "| benchmark | result | baseline | ratio | goal |",
        "|---|---:|---|---:|---|",
    ]
    lines.extend(result.row() for result in results)
    return "\n".join(lines) + "\n"


def _context(url: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    server = row[0] if row else "?"
    database = urlsplit(url).path.lstrip("/")
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, PostgreSQL {server}, database `{database}`."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", metavar="NAME", help="run benchmarks whose module.function contains NAME"
    )
    args = parser.parse_args(argv)
    url = bench_database_url()
    ensure_database(url)
    setup_django(url)
    benchmarks = [(n, b) for n, b in discover() if not args.only or args.only in n]
    if not benchmarks:
        print(f"no benchmark matches {args.only!r}", file=sys.stderr)
        return 1
    results: list[Result] = []
    started_all = time.monotonic()
    for name, benchmark in benchmarks:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        vacuum(url)
        results.extend(benchmark())
        print(f"  done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    print(f"all done in {time.monotonic() - started_all:.0f} s", file=sys.stderr)
    table = render(results, _context(url))
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)
    print(f"written to {RESULTS.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
