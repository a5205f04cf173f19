"""The operator manifests (deploy/k8s/operators/) against the operators' own CRD schemas
(deploy/k8s/crds/, vendored): RabbitmqCluster (RabbitMQ Cluster Operator), Policy, Exchange,
Queue and Binding (Messaging Topology Operator), Cluster (CloudNativePG). Offline, as strict as
`kubectl apply --validate=strict`: an unknown field is an error, as is a wrong type."""
import copy

import jsonschema
import pytest
import yaml

from deploy.processes import ROOT

K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted((K8S / "operators").glob("*.yaml"))


def _strict(schema: dict) -> dict:
    """A CRD's structural openAPIV3Schema as a JSON Schema a validator applies as the API server
    does with strict field validation: objects without `x-kubernetes-preserve-unknown-fields`
    or `additionalProperties` accept only their declared properties; `x-kubernetes-int-or-string`
    is an integer or a string; `nullable` admits null."""
    if not isinstance(schema, dict):
        return schema
    out = {k: (_strict(v) if isinstance(v, dict) else [_strict(i) for i in v] if isinstance(v, list) else v)
           for k, v in schema.items() if k != "properties"}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
    if "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        out["additionalProperties"] = _strict(schema["additionalProperties"])
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_validators() -> dict:
    """(apiVersion, kind) -> a validator of the whole object, from each vendored CRD's served
    versions."""
    found = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {})
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["properties"]["metadata"] = {"type": "object", "required": ["name"]}
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
            found[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return found


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def validators():
    return crd_validators()


def errors(validators, doc) -> list[str]:
    validator = validators.get((doc.get("apiVersion"), doc.get("kind")))
    assert validator is not None, f"no vendored CRD for {doc.get('apiVersion')} {doc.get('kind')}"
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_every_operator_manifest_passes_its_crd_schema(validators):
    docs = documents()
    assert {d["kind"] for d in docs} == {"RabbitmqCluster", "Policy", "Exchange", "Queue", "Binding", "Cluster"}
    for doc in docs:
        assert errors(validators, doc) == [], (doc["kind"], doc["metadata"]["name"])


def test_the_crd_check_catches_unknown_fields_and_wrong_types(validators):
    rabbit = copy.deepcopy(next(d for d in documents() if d["kind"] == "RabbitmqCluster"))
    rabbit["spec"]["replicas"] = "three"
    assert any("replicas" in e for e in errors(validators, rabbit))
    rabbit = copy.deepcopy(next(d for d in documents() if d["kind"] == "RabbitmqCluster"))
    rabbit["spec"]["persistance"] = {"storage": "20Gi"}          # misspelt
    assert any("persistance" in e for e in errors(validators, rabbit))
    policy = copy.deepcopy(next(d for d in documents() if d["kind"] == "Policy"))
    del policy["spec"]["rabbitmqClusterReference"]
    assert any("rabbitmqClusterReference" in e for e in errors(validators, policy))
    pg = copy.deepcopy(next(d for d in documents() if d["kind"] == "Cluster"))
    pg["spec"]["storage"]["sizee"] = "50Gi"
    assert any("sizee" in e for e in errors(validators, pg))


def test_the_deployment_asks_for_what_the_services_rely_on():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in documents()}
    rabbit = docs[("RabbitmqCluster", "baodao-rabbitmq")]["spec"]
    settings = [line.strip() for line in rabbit["rabbitmq"]["additionalConfig"].splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert rabbit["replicas"] == 3 and not any(line.startswith("default_queue_type") for line in settings)
    assert "cluster_partition_handling = pause_minority" in settings
    policy = docs[("Policy", "baodao-work-queues")]["spec"]
    definition = policy["definition"]
    assert definition["dead-letter-exchange"] == docs[("Exchange", "baodao-dead-letters")]["spec"]["name"]
    assert definition["dead-letter-strategy"] == "at-least-once" and definition["overflow"] == "reject-publish"
    assert definition["delivery-limit"] > 0
    import re

    pattern = re.compile(policy["pattern"])
    from shared import topology

    sub = topology.Subscription("registration", "MemberCheckedIn", "notify", "on_member_checked_in")
    assert pattern.match(sub.queue_name) and pattern.match("rpc-registration")
    assert not pattern.match(topology.retry_queue_name(sub.queue_name))
    assert not pattern.match(topology.dead_letter_queue_name(sub.queue_name))
    assert not pattern.match("rpc.reply-registration-4f1c")
    pg = docs[("Cluster", "baodao-pg")]["spec"]
    assert pg["instances"] >= 2 and pg["bootstrap"]["initdb"]["database"] == "baodao"
