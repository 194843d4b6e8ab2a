"""`make run` / `make test` pre-flight: are PostgreSQL, Redis and the Celery broker (Redis or
RabbitMQ) reachable, and does the database exist? Prints one clear line and exits 1 when
something is missing — no traceback.

Runs before Django is set up, so it reads the same environment variables directly.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import environ
import psycopg
import psycopg.conninfo
import redis
from psycopg import sql

from commerce_project.envfile import read_env_file

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
START_RABBITMQ = "rabbitmq-server -detached"


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_postgres(url: str) -> None:
    config = environ.Env.db_url_config(url)
    host, port, name = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432, config["NAME"]
    conninfo = psycopg.conninfo.make_conninfo(
        host=str(host),
        port=str(port),
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname="postgres",
        connect_timeout=3,
    )
    try:
        conn = psycopg.connect(conninfo, autocommit=True)
    except psycopg.OperationalError:
        _fail(
            f"PostgreSQL is not reachable at {host}:{port} (DATABASE_URL). "
            f"Start it with: {START_POSTGRES}  (or: docker compose up -d postgres)"
        )
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def check_redis(url: str, variable: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        where = client.connection_pool.connection_kwargs
        _fail(
            f"Redis is not reachable at {where.get('host')}:{where.get('port')} ({variable}). "
            f"Start it with: {START_REDIS}  (or: docker compose up -d redis)"
        )
    finally:
        client.close()


def check_broker(url: str) -> None:
    """The Celery broker: Redis, or RabbitMQ when CELERY_BROKER_URL is an amqp:// URL."""
    if urlsplit(url).scheme.startswith("redis") or urlsplit(url).scheme == "rediss":
        check_redis(url, "CELERY_BROKER_URL")
        return
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as error:  # any refusal alike
        _fail(
            f"the Celery broker is not reachable at {Connection(url).as_uri()} "
            f"(CELERY_BROKER_URL: {error}). Start RabbitMQ with: {START_RABBITMQ}"
        )


def main() -> None:
    env = environ.Env()
    read_env_file()
    check_postgres(env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/commerce"))
    check_redis(env.str("REDIS_URL", default="redis://127.0.0.1:6379/0"), "REDIS_URL")
    check_broker(env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/1"))
    print("PostgreSQL, Redis and the Celery broker are reachable.")


if __name__ == "__main__":
    main()
