"""Production settings, in fresh processes as a container would start them (no .env):
`manage.py check --deploy` is clean with production-like variables, production refuses to
start without a real SECRET_KEY or ALLOWED_HOSTS and names the one missing, and the image's
build-time collectstatic loads the production settings with its throwaway values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.deploy.conftest import production_env, run_manage_py, secret_key
from tests.deploy.deployment_files import ROOT, image_env, k8s_one, runtime_stage

pytestmark = pytest.mark.slow

PRODUCTION_LIKE = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": secret_key(),
    "ALLOWED_HOSTS": "shop.example.com",
}


def test_check_deploy_is_clean_with_production_like_settings() -> None:
    # when
    result = run_manage_py(PRODUCTION_LIKE, "check", "--deploy", "--fail-level", "WARNING")
    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_a_weakened_setting() -> None:
    # given: what a developer's .env says, which production must not inherit
    variables = {**PRODUCTION_LIKE, "SECURE_SSL_REDIRECT": "false"}
    # when
    result = run_manage_py(variables, "check", "--deploy", "--fail-level", "WARNING")
    # then
    assert result.returncode != 0
    assert "security.W008" in result.stderr


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in PRODUCTION_LIKE.items() if k != name}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        pytest.param(_without("SECRET_KEY"), "SECRET_KEY", id="no SECRET_KEY"),
        pytest.param({**PRODUCTION_LIKE, "SECRET_KEY": ""}, "SECRET_KEY", id="empty SECRET_KEY"),
        pytest.param(
            {**PRODUCTION_LIKE, "SECRET_KEY": "dev-insecure-key-do-not-use-in-production"},
            "SECRET_KEY",
            id="the development SECRET_KEY",
        ),
        pytest.param(
            {**PRODUCTION_LIKE, **k8s_one("Secret", "commerce-secrets")["stringData"]},
            "SECRET_KEY",
            id="the placeholder of k8s/secret.example.yaml",
        ),
        pytest.param(_without("ALLOWED_HOSTS"), "ALLOWED_HOSTS", id="no ALLOWED_HOSTS"),
        pytest.param({**PRODUCTION_LIKE, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS", id="empty"),
    ],
)
def test_production_refuses_to_start_and_names_what_is_missing(
    variables: dict[str, str], named: str
) -> None:
    # when
    result = run_manage_py(variables, "check")
    # then
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert f"needs {named}" in last_line


def test_the_image_build_step_collects_static_files_with_throwaway_production_values() -> None:
    # given: the RUN that collects static files, and the variables it sets for itself only
    stage = runtime_stage()
    ((build_env, argv),) = [step for step in stage.run_steps if "collectstatic" in step[1]]
    assert build_env["DJANGO_ENV"] == "production"
    assert {"SECRET_KEY", "ALLOWED_HOSTS"} <= set(build_env)
    assert {"SECRET_KEY", "ALLOWED_HOSTS"}.isdisjoint({*stage.env, *stage.args})
    # when: the same command, with the image's ENV, without writing anything
    result = subprocess.run(
        [sys.executable, *argv[1:], "--dry-run"],
        cwd=ROOT,
        env=production_env({**image_env(), **build_env}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then
    assert result.returncode == 0, result.stdout + result.stderr
