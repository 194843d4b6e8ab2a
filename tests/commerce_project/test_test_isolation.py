"""The suite never touches what `make run` uses, whatever `.env` or the environment holds."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from commerce_project.celery import app
from commerce_project.settings import base
from commerce_project.settings.test import redis_database

ROOT = Path(__file__).resolve().parents[2]
TEST_VARIABLES = (
    "TEST_REDIS_URL",
    "TEST_CELERY_BROKER_URL",
    "TEST_CELERY_RESULT_BACKEND",
    "TEST_CELERY_AMQP_URL",
)


def clean_environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_VARIABLES and k != "REDIS_URL"}
    return {**env, **variables}


def env_file(tmp_path: Path, *lines: str) -> Path:
    """`.env.example` as a developer copies it, with `lines` appended."""
    path = tmp_path / "dotenv"
    example = (ROOT / ".env.example").read_text()
    path.write_text(example + "\n" + "\n".join(lines) + "\n")
    return path


def test_the_suite_runs_on_the_test_settings() -> None:
    assert settings.SETTINGS_MODULE == "commerce_project.settings.test"


def test_test_redis_databases_are_apart_from_the_development_ones() -> None:
    development = {base.REDIS_URL, base.CELERY_BROKER_URL, base.CELERY_RESULT_BACKEND}
    used = {settings.REDIS_URL, settings.CELERY_BROKER_URL, settings.CELERY_RESULT_BACKEND}
    assert len({redis_database(url) for url in used}) == 3
    assert not {redis_database(url) for url in used} & {redis_database(url) for url in development}


def test_celery_publishes_to_the_test_broker() -> None:
    # Celery reads CELERY_BROKER_URL from the process environment before its configuration
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.result_backend == settings.CELERY_RESULT_BACKEND


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("TEST_REDIS_URL=redis://127.0.0.1:6379/0", "TEST_REDIS_URL"),
        ("REDIS_URL=redis://localhost:6379/15", "TEST_REDIS_URL"),
        ("TEST_CELERY_BROKER_URL=redis://127.0.0.1:6379/1", "TEST_CELERY_BROKER_URL"),
        ("TEST_CELERY_RESULT_BACKEND=redis://127.0.0.1/15", "TEST_CELERY_RESULT_BACKEND"),
        # RabbitMQ: the default vhost `/` is where a development broker lives
        ("TEST_CELERY_AMQP_URL=amqp://guest:guest@localhost:5672//", "TEST_CELERY_AMQP_URL"),
        ("TEST_CELERY_AMQP_URL=amqp://guest:guest@127.0.0.1", "TEST_CELERY_AMQP_URL"),
    ],
)
def test_test_settings_refuse_a_redis_database_the_development_server_uses(
    tmp_path: Path, line: str, named: str
) -> None:
    # given a .env that puts a test database on a development one (or on another test one)
    path = env_file(tmp_path, line)

    # when the test settings load
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean_environment(
            ENV_FILE=str(path), DJANGO_SETTINGS_MODULE="commerce_project.settings.test"
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then they refuse, naming the variable
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{named} (" in result.stderr


@pytest.mark.slow
def test_pytest_keeps_away_from_development_redis_whatever_the_environment_says(
    tmp_path: Path,
) -> None:
    # given development settings in the environment (as `make` used to export them) and a
    # .env whose development Redis holds a cart
    host, port, _ = redis_database(settings.REDIS_URL)
    development_url = f"redis://{host}:{port}/12"
    path = env_file(tmp_path, f"REDIS_URL={development_url}")
    development = redis.Redis.from_url(development_url)
    sentinel = f"cart:isolation-{uuid.uuid4().hex}"
    development.set(sentinel, "1", ex=120)
    try:
        # when a pytest run starts there (its autouse fixture flushes its Redis database)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                f"{Path(__file__).relative_to(ROOT)}::test_the_suite_runs_on_the_test_settings",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "ENV_FILE": str(path),
                "DJANGO_SETTINGS_MODULE": "commerce_project.settings.base",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        # then it ran on the test settings and the development data is still there
        assert result.returncode == 0, result.stdout + result.stderr
        assert development.get(sentinel) == b"1"
    finally:
        development.delete(sentinel)
        development.close()
