"""Static checks of the deployment files (there is no Docker engine or cluster here):
`docker-compose config` on the compose file, an offline schema check of the Kubernetes
manifests (kubernetes-validate), and that both stay in step with deploy/processes.py.
The validator tests skip only when the validator is not installed."""
import copy
import shutil
import subprocess

import pytest
import yaml

from deploy.processes import ROOT, SERVICE_CLASSES

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
K8S_VERSION = "1.30"


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def compose_config(path) -> subprocess.CompletedProcess:
    cmd = compose_command()
    if cmd is None:
        pytest.skip("no docker-compose / docker compose binary (apt-get install docker-compose)")
    return subprocess.run([*cmd, "-f", str(path), "config", "-q"], capture_output=True, text=True, timeout=120,
                          cwd=path.parent)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def k8s_documents() -> list[dict]:
    return [doc for path in K8S for doc in yaml.safe_load_all(path.read_text()) if doc]


# -- compose --------------------------------------------------------------------------------------
def test_docker_compose_config_accepts_the_file():
    result = compose_config(COMPOSE)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_rejects_a_broken_file(tmp_path):
    broken = compose()
    broken["services"]["notify"]["restart_policy_typo"] = "always"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    (tmp_path / "rabbitmq.conf").write_text("")
    result = compose_config(path)
    assert result.returncode != 0 and "restart_policy_typo" in result.stderr


def test_compose_runs_every_service_after_migrations_on_quorum_queues():
    services = compose()["services"]
    for name, cls in SERVICE_CLASSES.items():
        assert name in services, f"{name} missing from deploy/docker-compose.yml"
        svc = services[name]
        assert cls in svc["command"] and f"deploy/config/{name}.yaml" in svc["command"]
        assert (DEPLOY / "config" / f"{name}.yaml").exists()
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert svc["environment"]["QUEUE_TYPE"] == "quorum" and svc["environment"]["METRICS_PORT"] == "9100"
        assert "deploy.probe" in svc["healthcheck"]["test"] and svc["deploy"]["replicas"] >= 2
    for name in ("registration", "dispatch", "evaluation", "notify", "funds", "gateway", "rabbitmq", "postgres"):
        assert name in services
    assert services["gateway"]["command"] == ["python", "-m", "services.gateway.serve"]
    assert services["gateway"]["environment"]["GATEWAY_PORT"] == "8080" and "8080:8080" in services["gateway"]["ports"]
    assert "python -m deploy.migrate" in " ".join(services["migrate"]["command"])
    mount = next(v for v in services["rabbitmq"]["volumes"] if "rabbitmq.conf" in v)
    conf = (DEPLOY / mount.split(":")[0].removeprefix("./")).read_text()
    # the type is chosen per queue by the services (reply queues classic), not broker-wide
    assert "\ndefault_queue_type" not in conf


def test_the_image_holds_what_the_commands_run():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for source in ("shared", "services", "deploy", "pyproject.toml"):
        assert f"COPY {source}" in dockerfile and (ROOT / source).exists() and source not in ignored
    assert "python:3.11" in dockerfile and "USER baodao" in dockerfile
    for module in ("deploy.probe", "deploy.migrate", "deploy.topology", "deploy.ops"):
        assert (ROOT / (module.replace(".", "/") + ".py")).exists()


# -- kubernetes -----------------------------------------------------------------------------------
def test_kubernetes_manifests_pass_the_schema_check():
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = k8s_documents()
    assert len(docs) >= 10
    for doc in docs:
        kv.validate(doc, K8S_VERSION, strict=True)


def test_the_schema_check_catches_a_broken_manifest():
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    deployment = copy.deepcopy(next(d for d in k8s_documents() if d["kind"] == "Deployment"))
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSION, strict=True)
    deployment["spec"]["replicas"] = 3
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSION, strict=True)


def test_every_service_is_deployed_with_replicas_probes_migrations_and_env_config():
    deployments = {d["metadata"]["name"]: d for d in k8s_documents() if d["kind"] == "Deployment"}
    for name, cls in SERVICE_CLASSES.items():
        assert name in deployments, f"{name} missing from deploy/k8s/services.yaml"
        spec = deployments[name]["spec"]
        pod = spec["template"]["spec"]
        [container] = pod["containers"]
        assert spec["replicas"] >= 2 and cls in container["command"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert {"configMapRef", "secretRef"} <= {k for ref in container["envFrom"] for k in ref}
        assert pod["initContainers"][0]["command"] == ["python", "-m", "deploy.migrate", name]
    for name in ("evaluation", "funds", "gateway"):
        assert name in deployments
    assert deployments["gateway"]["spec"]["template"]["spec"]["initContainers"][0]["command"] == [
        "python", "-m", "deploy.migrate", "gateway"]
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["command"] == ["python", "-m", "services.gateway.serve"] and gateway["ports"][0]["containerPort"] == 8080
    config = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")
    assert config["data"]["QUEUE_TYPE"] == "quorum" and config["data"]["GATEWAY_PORT"] == "8080"
