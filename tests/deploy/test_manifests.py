"""What the container files promise beyond their schemas (which `make lint` checks with
hadolint and kubernetes-validate): a non-root image with only production requirements,
start-up ordering in compose, and Kubernetes workloads that are restricted, bounded, wired
to each other and free of real secrets."""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import urlparse

import pytest
from django.apps import apps
from django.http.request import validate_host

from tests.deploy import deployment_files as files

WORKLOADS = list(files.k8s_containers())


# --- Dockerfile and .dockerignore


def test_the_image_is_slim_python_311_and_runs_as_a_numeric_non_root_user() -> None:
    stages = files.dockerfile_stages()
    assert len(stages) >= 2, "builder and runtime stages"
    assert all(stage.base_image == "python:3.11-slim" for stage in stages)
    runtime = files.runtime_stage()
    (user,) = runtime.all("USER")[-1:]
    uid = files.expand_shell_vars(user, runtime.args).partition(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    assert runtime.all("EXPOSE") == ["8000"]
    assert runtime.env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert runtime.env["PYTHONUNBUFFERED"] == "1"


def test_the_image_installs_only_the_production_lock_with_hashes() -> None:
    text = files.DOCKERFILE.read_text()
    assert "--require-hashes -r /build/requirements/prod.lock" in text
    assert "dev." not in text


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, as far as this file uses them: a pattern matches a path or
    any of its parent directories from the root, `**/` anywhere, and `!` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in patterns:
        pattern = line.removeprefix("!")
        if pattern.startswith("**/"):
            names = [prefix.rsplit("/", 1)[-1] for prefix in prefixes]
            matched = any(fnmatch.fnmatch(name, pattern[3:]) for name in names)
        else:
            matched = any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes)
        if matched:
            ignored = not line.startswith("!")
    return ignored


def test_dockerignore_keeps_secrets_and_local_state_out_and_the_code_in() -> None:
    lines = (files.ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in [".env", ".git/config", ".venv/bin/python", "var/mail/1.eml", "staticfiles/x"]:
        assert _ignored(path, patterns), f"{path} would be sent to the image"
    local_apps = {
        c.name.split(".")[0]
        for c in apps.get_app_configs()
        if (files.ROOT / c.name.split(".")[0]).is_dir()
    }
    needed = ["manage.py", "requirements/prod.lock", *local_apps]
    for path in needed:
        assert not _ignored(path, patterns), f"{path} is needed at run time but ignored"


# --- docker-compose.yml


def test_compose_starts_in_order_on_healthy_dependencies() -> None:
    services = files.compose()["services"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    assert not services["web"]["healthcheck"].get("disable")


def test_compose_points_the_app_at_its_own_services_in_production_mode() -> None:
    services = files.compose()["services"]
    for name, service in files.compose_app_services().items():
        raw = service["environment"]
        env = files.compose_environment(service)
        assert env["DJANGO_ENV"] == "production", name
        assert raw["SECRET_KEY"].startswith("${SECRET_KEY:?"), "SECRET_KEY must be required"
        assert env["ALLOWED_HOSTS"], name
        for variable in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            host = urlparse(env[variable]).hostname
            assert host in services, f"{name}: {variable} points at {host}, not a compose service"


# --- k8s/


def test_manifests_are_namespace_agnostic() -> None:
    for path, document in files.k8s_documents():
        assert "namespace" not in document["metadata"], path


@pytest.mark.parametrize("pod", WORKLOADS, ids=[pod.origin for pod in WORKLOADS])
def test_every_container_is_bounded_and_restricted(pod: files.PodContainer) -> None:
    container, pod_spec = pod.container, pod.pod_spec
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    pod_context = pod_spec["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["seccompProfile"]["type"] == "RuntimeDefault"
    runtime = files.runtime_stage()
    image_uid = files.expand_shell_vars(runtime.all("USER")[-1], runtime.args).partition(":")[0]
    assert str(pod_context["runAsUser"]) == image_uid, "the pod runs as the image's user"
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    tmp_volume = next(m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod_spec["volumes"] if v["name"] == tmp_volume)
    assert "emptyDir" in volume, "/tmp must be writable on a read-only root filesystem"
    assert pod_spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize("pod", WORKLOADS, ids=[pod.origin for pod in WORKLOADS])
def test_every_container_reads_the_configmap_and_secret(pod: files.PodContainer) -> None:
    sources = pod.container["envFrom"]
    config = {s["configMapRef"]["name"] for s in sources if "configMapRef" in s}
    secret = {s["secretRef"]["name"] for s in sources if "secretRef" in s}
    assert config == {"commerce-config"}
    assert secret == {"commerce-secrets"}


def test_beat_runs_exactly_once() -> None:
    beat = files.k8s_one("Deployment", "commerce-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert not any(
        h["spec"]["scaleTargetRef"]["name"] == "commerce-beat"
        for h in files.k8s_kind("HorizontalPodAutoscaler")
    )


def _selects(selector: dict[str, str], workload: dict[str, Any]) -> bool:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return selector.items() <= labels.items()


def test_web_service_ingress_hpa_and_pdb_reach_the_web_pods() -> None:
    web = files.k8s_one("Deployment", "commerce-web")
    deployments = files.k8s_kind("Deployment")
    service = files.k8s_one("Service", "commerce-web")
    # the Service selects the web pods and nothing else, on a named container port
    assert [d for d in deployments if _selects(service["spec"]["selector"], d)] == [web]
    (container,) = web["spec"]["template"]["spec"]["containers"]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    # the Ingress routes to that Service and port
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for rule in files.k8s_one("Ingress", "commerce-web")["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "commerce-web"
            assert backend["port"]["name"] in service_ports
    # the HPA scales it and the PDB protects it
    hpa = files.k8s_one("HorizontalPodAutoscaler", "commerce-web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "commerce-web",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = files.k8s_one("PodDisruptionBudget", "commerce-web")
    assert [d for d in deployments if _selects(pdb["spec"]["selector"]["matchLabels"], d)] == [web]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a drain must be possible"


def test_web_has_liveness_on_healthz_and_readiness_on_readyz() -> None:
    web = files.k8s_one("Deployment", "commerce-web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_ingress_and_probe_hosts_are_allowed_hosts() -> None:
    allowed = files.k8s_one("ConfigMap", "commerce-config")["data"]["ALLOWED_HOSTS"].split(",")
    ingress_hosts = [r["host"] for r in files.k8s_one("Ingress", "commerce-web")["spec"]["rules"]]
    probe_hosts = [p.host for p in files.http_probes() if p.origin.startswith("k8s/")]
    hosts = ingress_hosts + probe_hosts
    for host in hosts:
        assert host is not None
        assert validate_host(host, allowed), f"{host} not in {allowed}"


def test_the_example_secret_holds_placeholders_only() -> None:
    path, secret = next((p, d) for p, d in files.k8s_documents() if d["kind"] == "Secret")
    assert "example" in path
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    assert values
    for key, value in values.items():
        assert "REPLACE-ME" in value, f"{key} looks like a real value"
