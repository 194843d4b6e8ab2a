"""The deployment files (Dockerfile, docker-compose.yml, k8s/*.yaml, Procfile) read into plain
data: every command line a deployment runs and every HTTP path it probes, each with where it
came from, so the tests can hold them against the project itself.

No Docker engine or cluster exists where the tests run; this is how the files are checked."""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "k8s"
PROCFILE = ROOT / "Procfile"

# Set by the container runtime itself (Docker and the kubelet), not by any file here.
RUNTIME_ENV = {"HOSTNAME": "commerce-pod-0"}

_SHELL_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_COMPOSE_VAR = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}"
)


@dataclass(frozen=True)
class Command:
    """A command line some deployment runs, with ${VARS} expanded as its shell would."""

    origin: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class HttpProbe:
    """An HTTP health check. `host` is None when the check derives it from ALLOWED_HOSTS."""

    origin: str
    path: str
    host: str | None
    script: tuple[str, ...] | None = None  # the inline `python -c` check, when it is one


class UnsetVariableError(LookupError):
    pass


def expand_shell_vars(word: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        if name in env:
            return env[name]
        if match["default"] is not None:
            return match["default"]
        raise UnsetVariableError(f"${name} is used but nothing sets it")

    return _SHELL_VAR.sub(substitute, word)


def shell_variables(text: str) -> set[str]:
    return {m["braced"] or m["bare"] for m in _SHELL_VAR.finditer(text)}


def compose_value(value: str) -> str:
    """A compose value as `docker compose` would resolve it with an empty host environment,
    except that required variables (`${X:?...}`) read as a placeholder."""

    def substitute(match: re.Match[str]) -> str:
        if match["op"] == "-":
            return match["arg"]
        if match["op"] == "?":
            return f"<{match['name']}>"
        return ""

    return _COMPOSE_VAR.sub(substitute, value).replace("$$", "$")


# --- Dockerfile


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def _instructions(text: str) -> list[Instruction]:
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


@dataclass(frozen=True)
class Stage:
    base_image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for arguments in self.all("ENV"):
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                env[name] = value
        return env

    @property
    def args(self) -> dict[str, str]:
        result = {}
        for arguments in self.all("ARG"):
            name, _, default = arguments.partition("=")
            result[name] = default
        return result

    @property
    def cmd(self) -> tuple[str, ...]:
        (cmd,) = self.all("CMD")[-1:]
        return tuple(json.loads(cmd))

    @property
    def healthcheck(self) -> tuple[str, ...]:
        (healthcheck,) = self.all("HEALTHCHECK")[-1:]
        _, _, exec_form = healthcheck.partition(" CMD ")
        return tuple(json.loads(exec_form))

    @property
    def run_steps(self) -> list[tuple[dict[str, str], tuple[str, ...]]]:
        """Each `&&`-joined command of every RUN, with its inline VAR=value assignments."""
        steps = []
        for arguments in self.all("RUN"):
            words = shlex.split(arguments)
            while words:
                end = words.index("&&") if "&&" in words else len(words)
                segment, words = words[:end], words[end + 1 :]
                env: dict[str, str] = {}
                while segment and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", segment[0]):
                    name, _, value = segment.pop(0).partition("=")
                    env[name] = value
                steps.append((env, tuple(segment)))
        return steps


@cache
def dockerfile_stages() -> tuple[Stage, ...]:
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: Instruction | None = None
    for instruction in _instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            if header is not None:
                stages.append(_stage(header, current))
            header, current = instruction, []
        else:
            current.append(instruction)
    assert header is not None, "the Dockerfile has no FROM"
    stages.append(_stage(header, current))
    return tuple(stages)


def _stage(header: Instruction, instructions: list[Instruction]) -> Stage:
    words = header.arguments.split()
    name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
    return Stage(base_image=words[0], name=name, instructions=tuple(instructions))


def runtime_stage() -> Stage:
    return dockerfile_stages()[-1]


def image_env() -> dict[str, str]:
    """What the image's ENV gives every process (PATH aside: it points into the image)."""
    return {k: v for k, v in runtime_stage().env.items() if k != "PATH"}


# --- docker-compose.yml


@cache
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def compose_app_services() -> dict[str, dict[str, Any]]:
    """The services that run this project's image (the others are PostgreSQL and Redis)."""
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def compose_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(k): compose_value(str(v)) for k, v in environment.items()}


# --- k8s/


@cache
def k8s_documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    documents = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((f"k8s/{path.name}", document))
    return tuple(documents)


def k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in k8s_documents() if document["kind"] == kind]


def k8s_one(kind: str, name: str) -> dict[str, Any]:
    (document,) = [d for d in k8s_kind(kind) if d["metadata"]["name"] == name]
    return document


@dataclass(frozen=True)
class PodContainer:
    origin: str
    workload: dict[str, Any]
    pod_spec: dict[str, Any]
    container: dict[str, Any]


def k8s_containers() -> Iterator[PodContainer]:
    for path, document in k8s_documents():
        if document["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            pod_spec = document["spec"]["template"]["spec"]
            for container in pod_spec.get("initContainers", []) + pod_spec["containers"]:
                origin = f"{path} {document['metadata']['name']}/{container['name']}"
                yield PodContainer(origin, document, pod_spec, container)


def k8s_container_env(container: Mapping[str, Any]) -> dict[str, str]:
    """The variables a container sees: image ENV, then envFrom, then env (kubelet order)."""
    env = {**RUNTIME_ENV, **image_env()}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(k8s_one("ConfigMap", source["configMapRef"]["name"])["data"])
        if "secretRef" in source:
            secret = k8s_one("Secret", source["secretRef"]["name"])
            env.update(secret.get("stringData", {}))
            env.update(dict.fromkeys(secret.get("data", {}), "<secret>"))
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value", "<from valueFrom>")
    return env


# --- Procfile


@cache
def procfile() -> dict[str, str]:
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


# --- every command and probe


def _argv(words: list[str] | tuple[str, ...], env: Mapping[str, str]) -> tuple[str, ...]:
    """argv as the process sees it; `sh -c` scripts are split the way sh would split them."""
    if len(words) == 3 and words[0] in {"sh", "/bin/sh", "bash"} and words[1] == "-c":
        script = shlex.split(words[2])
        if any(word in {"&&", "||", ";", "|"} for word in script):
            raise AssertionError(f"keep shell scripts to one command, not {words[2]!r}")
        words = script[1:] if script[:1] == ["exec"] else script
    return tuple(expand_shell_vars(word, env) for word in words)


def _inline_python_probe(origin: str, argv: tuple[str, ...]) -> HttpProbe | None:
    """`python -c '...urlopen(... "/path" ...)'`: the paths are the string literals that
    start with a slash."""
    if len(argv) != 3 or argv[0] not in {"python", "python3"} or argv[1] != "-c":
        return None
    paths = [
        node.value
        for node in ast.walk(ast.parse(argv[2]))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("/")
    ]
    assert len(paths) == 1, f"{origin}: cannot tell which path the health check requests"
    return HttpProbe(origin=origin, path=paths[0], host=None, script=argv)


def _classify(origin: str, argv: tuple[str, ...]) -> Command | HttpProbe:
    return _inline_python_probe(origin, argv) or Command(origin, argv)


def _compose_healthcheck(test: list[str] | str) -> list[str]:
    if isinstance(test, str):
        return ["sh", "-c", test]
    if test[0] == "CMD":
        return test[1:]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1]]
    raise AssertionError(f"unknown healthcheck form {test!r}")


def checks() -> list[Command | HttpProbe]:
    """Every command and HTTP probe in the Procfile, the Dockerfile, compose and k8s."""
    found: list[Command | HttpProbe] = []

    for name, line in procfile().items():
        found.append(_classify(f"Procfile {name}", _argv(shlex.split(line), {})))

    stage = runtime_stage()
    found.append(_classify("Dockerfile CMD", _argv(stage.cmd, image_env())))
    found.append(_classify("Dockerfile HEALTHCHECK", _argv(stage.healthcheck, image_env())))
    for env, argv in stage.run_steps:
        if "manage.py" in argv:
            found.append(_classify("Dockerfile RUN", _argv(argv, {**image_env(), **env})))

    for name, service in compose_app_services().items():
        origin = f"docker-compose.yml {name}"
        env = {**RUNTIME_ENV, **image_env(), **compose_environment(service)}
        command = service.get("command")
        if isinstance(command, str):
            command = ["sh", "-c", command]
        command = [compose_value(word) for word in command] if command else stage.cmd
        found.append(_classify(origin, _argv(command, env)))
        healthcheck = service.get("healthcheck", {})
        if not healthcheck.get("disable"):
            test = healthcheck.get("test") or list(stage.healthcheck)
            words = [compose_value(w) for w in _compose_healthcheck(test)]
            found.append(_classify(f"{origin} healthcheck", _argv(words, env)))

    for pod in k8s_containers():
        env = k8s_container_env(pod.container)
        container = pod.container
        if "command" in container:
            command = container["command"] + container.get("args", [])
        else:
            command = container.get("args") or list(stage.cmd)
        found.append(_classify(pod.origin, _argv(command, env)))
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(kind)
            if probe is None:
                continue
            origin = f"{pod.origin} {kind}"
            if "exec" in probe:
                found.append(_classify(origin, _argv(probe["exec"]["command"], env)))
            elif "httpGet" in probe:
                headers = {
                    h["name"].lower(): h["value"] for h in probe["httpGet"].get("httpHeaders", [])
                }
                found.append(HttpProbe(origin, probe["httpGet"]["path"], headers.get("host")))
            else:
                raise AssertionError(f"{origin}: no check for a {sorted(probe)} probe")
    return found


def commands() -> list[Command]:
    return [c for c in checks() if isinstance(c, Command)]


def http_probes() -> list[HttpProbe]:
    return [c for c in checks() if isinstance(c, HttpProbe)]
