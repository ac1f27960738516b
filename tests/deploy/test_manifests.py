"""The deploy files, validated offline: the Dockerfile under hadolint, the Kubernetes manifests
under kubernetes-validate --strict (its own schemas), and the shape of all of them (every
service started alone, probed, sized, scaled, routed the same way as the gateway), including
docker-compose.yml (no `docker compose` can check it without an engine here)."""

from __future__ import annotations

import copy
import functools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.gateway import GATEWAY_CONFIG, upstream_hosts
from tests.deploy.test_gateway import SERVICES, expected_owner

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
STATELESS = set(SERVICES) - {"ui"}  # the ui keeps each browser's session in one instance


def tool(name: str) -> str:
    """A tool the dev extras install beside this Python."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: make install (dev extras) provides it"
    return str(path)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@functools.cache
def k8s_documents() -> list[dict[str, Any]]:
    """Every document of deploy/k8s (parsed once; copy one before changing it)."""
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


# --- Dockerfile ------------------------------------------------------------------------------


def test_the_dockerfile_is_clean_under_hadolint() -> None:
    result = run(tool("hadolint"), str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_reports_what_it_should(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install flightdeck\n")
    result = run(tool("hadolint"), str(careless))
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the latest tag
    assert "DL3013" in result.stdout  # unpinned pip install


def test_the_image_is_multi_stage_non_root_and_checks_its_health() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\w+)", text, re.MULTILINE)
    assert [name for _, name in stages] == ["build", "runtime"]
    build, runtime = text.split("AS runtime")
    assert "python -m build --wheel" in build  # the wheel is built in the first stage
    assert "COPY --from=build /wheels /wheels" in runtime
    users = re.findall(r"^USER\s+(\d+):(\d+)$", runtime, re.MULTILINE)
    assert users and users[-1][0] != "0"
    assert re.search(r"^HEALTHCHECK .*\n.*?/healthz", runtime, re.MULTILINE)


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"]
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(), re.MULTILINE))
    allowed = {line.removeprefix("!").rstrip("/") for line in ignored if line.startswith("!")}
    assert copied <= allowed


# --- Kubernetes --------------------------------------------------------------------------------


def test_the_manifests_pass_strict_schema_validation() -> None:
    files = [str(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_refuses_an_unknown_field(tmp_path: Path) -> None:
    deployment = copy.deepcopy(find("Deployment", "flightdeck-search"))
    deployment["spec"]["replica"] = 3  # a typo of `replicas`
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", str(path))
    assert result.returncode != 0
    assert "replica" in result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_alone_probed_and_sized(service: str) -> None:
    deployment = find("Deployment", f"flightdeck-{service}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-2:] == ["--services", service]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {
        ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]
    } == {
        "flightdeck-settings",
        "flightdeck-secrets",
    }
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    # The Service has the name the gateway and the Ingress use, and selects these pods.
    k8s_service = find("Service", service)
    assert k8s_service["spec"]["selector"] == selector
    assert k8s_service["spec"]["ports"][0]["port"] == 8000


@pytest.mark.parametrize("service", SERVICES)
def test_stateless_services_autoscale_and_every_service_keeps_one_pod(service: str) -> None:
    budget = find("PodDisruptionBudget", f"flightdeck-{service}")
    deployment = find("Deployment", f"flightdeck-{service}")
    assert (
        budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    )
    assert budget["spec"]["minAvailable"] == 1
    autoscalers = [
        d
        for d in k8s_documents()
        if d["kind"] == "HorizontalPodAutoscaler"
        and d["spec"]["scaleTargetRef"]["name"] == f"flightdeck-{service}"
    ]
    if service in STATELESS:
        (autoscaler,) = autoscalers
        assert autoscaler["spec"]["minReplicas"] >= 2
        assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    else:
        assert autoscalers == []


def test_the_ingress_routes_like_the_gateway() -> None:
    routed = {}
    for ingress in (d for d in k8s_documents() if d["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routed[path["path"]] = path["backend"]["service"]["name"]
    assert set(routed.values()) == set(SERVICES)
    for path, service in routed.items():
        assert service == expected_owner(path), path
    ui = find("Ingress", "flightdeck-ui")["metadata"]["annotations"]
    assert ui["nginx.ingress.kubernetes.io/affinity"] == "cookie"


def test_kustomization_applies_everything_but_the_secret_and_the_job() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")}
    kept_out = {"kustomization.yaml", "secret.example.yaml", "migrate-job.yaml"}
    assert set(kustomization["resources"]) == files - kept_out


def test_settings_in_the_configmap_are_settings_the_code_reads() -> None:
    from flightdeck.platform.settings import Settings

    data = find("ConfigMap", "flightdeck-settings")["data"]
    secret = find("Secret", "flightdeck-secrets")["stringData"]
    known = {f"FLIGHTDECK_{name.upper()}" for name in Settings.model_fields}
    # The replica URL is read by the read-replica work (issue 12); everything else exists.
    assert set(data) | set(secret) - {"FLIGHTDECK_DATABASE_REPLICA_URL"} <= known


# --- docker compose ----------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_compose_runs_every_service_alone_behind_the_gateway() -> None:
    services = compose()["services"]
    stores = {"postgres", "postgres-replica", "redis", "kafka", "mongo"}
    assert set(services) == stores | set(SERVICES) | {"migrate", "gateway"}
    for name in SERVICES:
        assert services[name]["command"][-2:] == ["--services", name]
        assert services[name]["deploy"]["replicas"] >= 2
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["command"] == ["migrate"]
    # The gateway's upstream hosts are the compose services, all of which it waits for.
    gateway = services["gateway"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in gateway["volumes"]
    hosts = upstream_hosts(GATEWAY_CONFIG.read_text())
    assert {server.split(":")[0] for servers in hosts.values() for server in servers} <= set(
        services
    )
    assert set(gateway["depends_on"]) == set(SERVICES)


def test_compose_believes_forwarded_addresses_from_the_gateway_only() -> None:
    services = compose()["services"]
    gateway_address = services["gateway"]["networks"]["flightdeck"]["ipv4_address"]
    for name in SERVICES:
        assert services[name]["environment"]["FLIGHTDECK_TRUSTED_PROXIES"] == gateway_address


def test_compose_streams_the_primary_to_a_replica() -> None:
    services = compose()["services"]
    replica = services["postgres-replica"]
    script = replica["command"][0]
    assert "pg_basebackup --host=postgres --username=replicator" in script
    assert "--write-recovery-conf" in script
    init = compose()["configs"]["postgres-replication"]["content"]
    assert "WITH REPLICATION" in init and "host replication replicator" in init
    environment = services["users"]["environment"]
    assert "@postgres:5432/" in environment["FLIGHTDECK_DATABASE_URL"]
    assert "@postgres-replica:5432/" in environment["FLIGHTDECK_DATABASE_REPLICA_URL"]


def test_compose_pins_every_image_and_names_every_required_secret_in_the_example() -> None:
    services = compose()["services"]
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), name
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    example = set(re.findall(r"^(\w+)=", (DEPLOY / "env.example").read_text(), re.MULTILINE))
    assert required and required <= example
    depends = {
        dependency for service in services.values() for dependency in service.get("depends_on", {})
    }
    assert depends <= set(services)
