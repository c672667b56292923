"""deploy/k8s/ validates offline and says what the hub needs.

Kubernetes' own kinds are validated with kubernetes-validate (its bundled, strict schemas of
``K8S_VERSION``; no cluster, no network). The operators' kinds (RabbitmqCluster, CloudNativePG
Cluster, ServiceMonitor) are validated against the minimal schemas vendored in
deploy/k8s/schemas/ (see its README). Then what schemas cannot see: probes point at the hub's
real health endpoints, one worker Deployment per configured department, every referenced
resource exists, and no secret value is written into a manifest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from hub.config.loading import load_config

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy/k8s"
K8S_VERSION = "1.31.0"
CRD_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
}


def resources() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    out: list[tuple[str, dict[str, Any]]] = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")):
            if doc is not None:
                out.append((name, doc))
    return out


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in resources() if doc["kind"] == kind]


def validate(doc: dict[str, Any]) -> None:
    schema_file = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
    if schema_file is None:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        return
    schema = json.loads((K8S / "schemas" / schema_file).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_every_manifest_validates_against_its_schema() -> None:
    docs = resources()
    kinds = {doc["kind"] for _, doc in docs}
    assert {"Deployment", "Service", "ConfigMap", "RabbitmqCluster", "Cluster",
            "ServiceMonitor"} <= kinds
    for name, doc in docs:
        try:
            validate(doc)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc}")


def test_validation_catches_a_misspelt_field() -> None:
    # given manifests with a typo a cluster would silently prune or refuse
    api = next(d for d in by_kind("Deployment") if d["metadata"]["name"] == "hub-api")
    api["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {}}
    rmq = by_kind("RabbitmqCluster")[0]
    rmq["spec"]["replica"] = 3
    # then both are refused
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(api)
    with pytest.raises(jsonschema.ValidationError):
        validate(rmq)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def test_api_runs_replicas_with_the_hubs_health_endpoints() -> None:
    from hub.intake.api.routes_health import routes

    paths = {getattr(r, "path", None) for r in routes.routes}
    api = next(d for d in by_kind("Deployment") if d["metadata"]["name"] == "hub-api")
    assert api["spec"]["replicas"] >= 2
    (container,) = _containers(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    assert container["args"][:2] == ["hub", "serve"]


def test_one_worker_deployment_per_configured_department() -> None:
    departments = set(load_config(REPO / "config").departments)
    workers: dict[str, dict[str, Any]] = {}
    for doc in by_kind("Deployment"):
        (container,) = _containers(doc)
        args = container["args"]
        if args[:2] == ["hub", "worker"]:
            workers[args[args.index("--department") + 1]] = container
    assert set(workers) == departments
    for name, container in workers.items():
        env = {e["name"]: e for e in container["env"]}
        assert env["HUB_AMQP_USER"]["value"] == f"hub-worker-{name}"  # its own broker user
        assert "livenessProbe" in container


def test_bus_url_lists_every_broker_node() -> None:
    rmq = by_kind("RabbitmqCluster")[0]
    name, replicas = rmq["metadata"]["name"], rmq["spec"]["replicas"]
    assert replicas == 3
    for doc in by_kind("Deployment"):
        (container,) = _containers(doc)
        url = next(e["value"] for e in container["env"] if e["name"] == "HUB_BUS_URL")
        hosts = re.findall(r"@([^:/]+):5672/", url)
        assert hosts == [f"{name}-server-{i}.{name}-nodes.hub.svc" for i in range(replicas)]


def test_referenced_config_and_secrets_are_references_only() -> None:
    docs = resources()
    config_maps = {d["metadata"]["name"] for _, d in docs if d["kind"] == "ConfigMap"}
    config_maps.add("hub-config")  # made from config/ at deploy time (docs/deploy.md)
    assert not [d for _, d in docs if d["kind"] == "Secret"], "no Secret objects committed"
    pg = by_kind("Cluster")[0]["metadata"]["name"]
    for doc in by_kind("Deployment"):
        (container,) = _containers(doc)
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                assert src["configMapRef"]["name"] in config_maps
        for e in container["env"]:
            if "value" in e:
                assert not re.search(r"(?i)password|secret|key", e["name"]), e
                assert not re.search(r"://[^$@]+:[^$@]+@", e["value"]), "credentials in a URL"
            elif e["valueFrom"]["secretKeyRef"]["name"].startswith("hub-pg"):
                assert e["valueFrom"]["secretKeyRef"]["name"] == f"{pg}-app"  # CNPG's secret


def test_service_monitor_scrapes_the_api_and_worker_ports() -> None:
    monitor = by_kind("ServiceMonitor")[0]
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    services = {d["metadata"]["name"]: d for d in by_kind("Service")}
    named = {p["name"] for s in services.values() for p in s["spec"]["ports"]}
    assert ports <= named
    wanted = set(monitor["spec"]["selector"]["matchExpressions"][0]["values"])
    assert {s["metadata"]["labels"]["app.kubernetes.io/name"] for s in services.values()} == wanted


def test_api_and_workers_share_one_read_write_many_volume_for_attachments() -> None:
    # the API writes attachments that the department workers deliver: one shared volume
    claims = {d["metadata"]["name"]: d for d in by_kind("PersistentVolumeClaim")}
    for doc in by_kind("Deployment"):
        (container,) = _containers(doc)
        env = {e["name"]: e.get("value") for e in container["env"]}
        env.update(next(d for d in by_kind("ConfigMap"))["data"])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == env["HUB_DATA_DIR"])
        volume = next(v for v in doc["spec"]["template"]["spec"]["volumes"]
                      if v["name"] == mount["name"])
        claim = claims[volume["persistentVolumeClaim"]["claimName"]]
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
