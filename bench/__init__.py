"""The benchmark suite: `make bench`, or `python -m bench [--only NAME]`.

Every number is compared with a baseline measured in the same run, on the same machine, in
turns with it, and reported as a ratio (times better than the baseline: >1 is better, for
throughput and latency alike). Speed claims live here, never as timing assertions in tests.

Writing a benchmark
-------------------
A module `bench/bench_<topic>.py` exposes `BENCHMARKS`: a list of callables taking no
arguments and returning a list of `bench.measure.Result` rows (`compared()` or `measured()`
build them). The runner (bench/__main__.py) has already set Django up against the benchmark
database `commerce_bench` (migrated, DEBUG off, freely wiped by benchmarks) when they run.

- In-process measurements (bench/measure.py): `in_turns(*runs)` runs each callable
  (returning operations per second) once per round for ROUNDS rounds, alternating the
  order, and returns the rates of every round (`rate_of()` and `repeated()` adapt a
  callable counting operations, or one operation); `compared()` turns two such lists into
  a result: the median of the per-round ratios, and their range. `measured()` makes a
  result of one value per side (`Side(value, unit)`), e.g. latencies or a single run.
- HTTP measurements: bench/http.py (gunicorn with production-like settings serving the
  project plus the two baselines of bench/urls.py, and a multi-process load generator);
  `bench.http.compare()` returns the same per-round rates, so `compared()` reports them.
- Fixtures shared by modules: bench/fixtures.py (users with API tokens, stocked products).

Knobs (environment variables; the defaults are the sizes the issues ask for)
---------------------------------------------------------------------------
BENCH_ROUNDS                rounds per comparison, each side once per round (7)
BENCH_SECONDS               seconds of HTTP load per side and round (1.5)
BENCH_GUNICORN_WORKERS      gunicorn workers (2, as the image runs it)
BENCH_GUNICORN_THREADS      gunicorn threads per gthread worker (4, as the image runs it)
BENCH_LOAD_PROCESSES        load generator processes (2)
BENCH_LOAD_THREADS          keep-alive connections per load generator process (4)
BENCH_ORDERS                background orders under the order list (100,000)
BENCH_ORDERS_LARGE          ... and the second size it is measured at (1,000,000)
BENCH_SERVER_KINDS          gunicorn worker kinds of the HTTP rows (sync,gthread)
BENCH_REBUILD_EVENTS        events replayed by the projection rebuild (200,000)
BENCH_FEED_EVENTS           order events the feed rows page through (20,000)
BENCH_RESERVATION_WORKERS   concurrent reservation workers (4)
BENCH_RESERVATION_SECONDS   seconds per side and round of the reservation race (1)
BENCH_AMQP_URL              RabbitMQ vhost the saga rows are also measured on
                            (amqp://guest:guest@127.0.0.1:5672/commerce_bench; empty: Redis only)
BENCH_SAGA_*, BENCH_NOOP_*  sizes of the saga rows (bench/bench_sagas.py)
"""
