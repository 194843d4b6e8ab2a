"""Every process the deployments start runs a command this project really has.

Commands come from the Procfile, the Dockerfile (CMD, HEALTHCHECK, build steps),
docker-compose.yml and k8s/ (containers and probes), each expanded the way its shell would:
- `python manage.py <name> ...`: the command is registered and accepts those options;
- `gunicorn ...`: gunicorn accepts the options and the target imports and is a WSGI callable;
- `celery -A commerce_project <sub> ...`: the Celery CLI loads the app, knows the sub-command
  and accepts the options;
- HTTP health checks: the path resolves in the URLconf, and the image's own CMD, started with
  production settings, answers it 200 with the Host the check sends.
Every variable compose and k8s set is read by the settings (and documented in .env.example)
or by the image's CMD.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from django.urls import Resolver404, resolve
from gunicorn.config import Config  # type: ignore[import-untyped]

from tests.deploy import deployment_files as files
from tests.deploy.conftest import Server, production_env, secret_key

COMMANDS = files.commands()
# `python -m commerce_project.respawn <command>` (make run's worker and beat) runs <command>.
RESPAWN = "commerce_project.respawn"
PROBES = files.http_probes()


# --- the checks


def command_problem(argv: tuple[str, ...]) -> str | None:
    program = Path(argv[0]).name
    if program in {"python", "python3"} and argv[1:3] == ("-m", RESPAWN):
        return command_problem(argv[3:]) if argv[3:] else f"{RESPAWN} runs no command"
    if program in {"python", "python3"}:
        return _manage_py_problem(argv)
    if program == "gunicorn":
        return _gunicorn_problem(argv)
    if program == "celery":
        return _celery_problem(argv)
    return f"nothing here knows how to check {program!r}; teach test_process_commands"


def _manage_py_problem(argv: tuple[str, ...]) -> str | None:
    if argv[1:2] != ("manage.py",) or len(argv) < 3:
        return f"expected `python manage.py <command>`, got {' '.join(argv)!r}"
    name, options = argv[2], list(argv[3:])
    registry = get_commands()
    if name not in registry:
        return f"manage.py has no command {name!r}"
    command = load_command_class(registry[name], name)
    try:
        command.create_parser("manage.py", name).parse_args(options)
    except CommandError as error:
        return f"manage.py {name} rejects {options}: {error}"
    return None


def _gunicorn_problem(argv: tuple[str, ...]) -> str | None:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            parsed = Config().parser().parse_args(list(argv[1:]))
    except SystemExit:
        return f"gunicorn rejects its options: {errors.getvalue().strip()}"
    if len(parsed.args) != 1:
        return f"gunicorn needs exactly one application, got {parsed.args}"
    module_name, _, attribute = parsed.args[0].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return f"gunicorn target module {module_name!r} does not import: {error}"
    if not callable(getattr(module, attribute or "application", None)):
        return f"{module_name} has no WSGI callable {attribute or 'application'!r}"
    return None


@cache
def _celery_problem(argv: tuple[str, ...]) -> str | None:
    # The real CLI: it loads the app (-A) before it parses the sub-command, and `--help`
    # stops it there, after unknown sub-commands and options have been rejected.
    celery = Path(sys.executable).parent / "celery"
    env = production_env(
        {**files.image_env(), "SECRET_KEY": secret_key(), "ALLOWED_HOSTS": "shop.example.com"}
    )
    result = subprocess.run(
        [str(celery), *argv[1:], "--help"],
        cwd=files.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        return f"the Celery CLI rejects it: {result.stderr.strip()}"
    return None


def probe_path_problem(path: str) -> str | None:
    try:
        resolve(path)
    except Resolver404:
        return f"{path} is not in the URLconf"
    return None


def settings_variables() -> set[str]:
    """Names the settings read: the first argument of every `env.<reader>("NAME", ...)`."""
    names = set()
    for module in (files.ROOT / "commerce_project" / "settings").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "env"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


def documented_variables() -> set[str]:
    lines = (files.ROOT / ".env.example").read_text().splitlines()
    return {line.partition("=")[0].strip() for line in lines if re.match(r"^[A-Z_]+=", line)}


def image_cmd_variables() -> set[str]:
    return files.shell_variables(" ".join(files.runtime_stage().cmd))


def deployment_variables() -> dict[str, list[str]]:
    """Every variable compose and k8s give the project's processes, with where it is set."""
    found: dict[str, list[str]] = defaultdict(list)
    for name, service in files.compose_app_services().items():
        for variable in files.compose_environment(service):
            found[variable].append(f"docker-compose.yml {name}")
    for path, document in files.k8s_documents():
        if document["kind"] in {"ConfigMap", "Secret"}:
            for key in {**document.get("data", {}), **document.get("stringData", {})}:
                found[key].append(f"{path} {document['kind']}")
    for pod in files.k8s_containers():
        for variable in pod.container.get("env", []):
            found[variable["name"]].append(pod.origin)
    return dict(found)


def unread_variables(variables: Iterable[str]) -> list[str]:
    read_by_settings = settings_variables()
    documented = documented_variables()
    read_by_cmd = image_cmd_variables()
    problems = []
    for name in sorted(set(variables) - read_by_cmd):
        if name not in read_by_settings:
            problems.append(f"{name} is set but the settings never read it")
        elif name not in documented:
            problems.append(f"{name} is read by the settings but missing from .env.example")
    return problems


# --- the tests


@pytest.mark.parametrize("command", COMMANDS, ids=[c.origin for c in COMMANDS])
def test_every_process_runs_a_command_the_project_has(command: files.Command) -> None:
    # when
    problem = command_problem(command.argv)
    # then
    assert problem is None, f"{command.origin}: {' '.join(command.argv)}\n{problem}"


@pytest.mark.parametrize(
    "argv",
    [
        ("python", "manage.py", "migrat", "--noinput"),
        ("python", "manage.py", "migrate", "--no-such-option"),
        ("gunicorn", "commerce_project.wsgy:application"),
        ("gunicorn", "commerce_project.wsgi:app"),
        ("gunicorn", "commerce_project.wsgi:application", "--workers", "two"),
        ("celery", "-A", "commerce_projec", "worker"),
        ("celery", "-A", "commerce_project", "wroker"),
        ("celery", "-A", "commerce_project", "worker", "--loglevl=INFO"),
        ("uwsgi", "--module", "commerce_project.wsgi"),
        ("python", "-m", "commerce_project.respawn", "celery", "-A", "commerce_project", "wroker"),
        ("python", "-m", "commerce_project.respawn"),
    ],
    ids=lambda argv: " ".join(argv),
)
def test_a_misspelt_command_is_caught(argv: tuple[str, ...]) -> None:
    assert command_problem(argv) is not None


def test_compose_and_k8s_run_every_process_type_of_the_procfile() -> None:
    # given
    process_types = set(files.procfile()) | {"migrate"}
    # then
    assert process_types <= set(files.compose_app_services())
    assert process_types <= {pod.container["name"] for pod in files.k8s_containers()}


@pytest.mark.parametrize("probe", PROBES, ids=[p.origin for p in PROBES])
def test_every_health_check_requests_a_path_in_the_urlconf(probe: files.HttpProbe) -> None:
    assert probe_path_problem(probe.path) is None, f"{probe.origin}: {probe.path}"


def test_a_misspelt_probe_path_is_caught() -> None:
    assert probe_path_problem("/healtz") is not None


@pytest.mark.slow
@pytest.mark.parametrize("probe", PROBES, ids=[p.origin for p in PROBES])
def test_every_health_check_passes_against_the_image_cmd(
    production_server: Server, probe: files.HttpProbe
) -> None:
    if probe.script is not None:
        # when: the inline python check, in the web container's environment
        result = subprocess.run(
            list(probe.script),
            env=production_server.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        # then
        assert result.returncode == 0, f"{probe.origin}:\n{result.stderr}"
    else:
        # when: the kubelet's request, plain HTTP to the pod with the probe's headers
        status, body = production_server.get(probe.path, probe.host or "10.0.0.7:8000")
        # then
        assert status == 200, f"{probe.origin}: {probe.path} answered {status} {body!r}"


def test_every_variable_the_deployments_set_is_read_by_the_project() -> None:
    # given
    variables = deployment_variables()
    # when
    problems = unread_variables(variables)
    # then
    assert not problems, "\n".join(f"{p} ({', '.join(variables[p.split()[0]])})" for p in problems)


def test_a_misspelt_variable_is_caught() -> None:
    assert unread_variables(["SECRET_KEYS"]) == [
        "SECRET_KEYS is set but the settings never read it"
    ]
