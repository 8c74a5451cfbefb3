"""The deployment files hold together, checked offline: the Kubernetes manifests (a minimal kustomize
walk, hardening, one Service/ServiceAccount/PDB/NetworkPolicy per Deployment, Kafka topics, autoscaling
that follows what each service really consumes, secrets only by reference), docker-compose.yml, the
Dockerfiles, Prometheus and the Grafana dashboard."""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from faka_common.contracts import topics
from faka_common.http import CALLERS_ADMITTED

from tests.integration.e2e_platform import CALLERS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "production")
SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")
CONSUMERS = ("order", "inventory", "delivery", "notification", "risk", "commission")
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000

Doc = dict[str, Any]


def load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def load(path: Path) -> Doc:
    (doc,) = load_all(path)
    return doc


@cache
def build(directory: Path) -> tuple[Doc, ...]:
    """The resources a kustomization (or component) directory yields, before patches: its `resources`
    (files, or directories walked recursively) and its `components`. Fails on a missing reference."""
    kustomization = load(directory / "kustomization.yaml")
    out: list[Doc] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        assert target.exists(), f"{directory}/kustomization.yaml lists missing {entry}"
        out.extend(build(target) if target.is_dir() else load_all(target))
    for entry in kustomization.get("components", []):
        target = (directory / entry).resolve()
        assert (target / "kustomization.yaml").is_file(), f"{directory} lists missing component {entry}"
        assert load(target / "kustomization.yaml")["kind"] == "Component"
        out.extend(build(target))
    return tuple(out)


def of_kind(docs: tuple[Doc, ...], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def everything() -> tuple[Doc, ...]:
    """Base plus every component: all that any overlay can deploy."""
    docs = list(build(BASE))
    for component in sorted((K8S / "components").iterdir()):
        docs.extend(build(component))
    return tuple(docs)


def deployments() -> dict[str, Doc]:
    return of_kind(build(BASE), "Deployment")


def container(deployment: Doc) -> Doc:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def pod_labels(deployment: Doc) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def settings_fields(service: str) -> set[str]:
    """The environment variables a service reads: its Settings fields, upper-cased."""
    config = importlib.import_module(f"{service}.config")
    return {name.upper() for name in config.Settings.model_fields}


def pointer(doc: Any, path: str) -> Any:
    for part in path.strip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def yaml_files() -> Iterator[Path]:
    yield from sorted(K8S.rglob("*.yaml"))


# --- Kubernetes: files and kustomize -------------------------------------------------------------------


@pytest.mark.parametrize("path", list(yaml_files()), ids=lambda p: str(p.relative_to(K8S)))
def test_every_kubernetes_file_parses_into_typed_documents(path: Path) -> None:
    docs = load_all(path)
    assert docs
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), f"{path}: a document without apiVersion/kind"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_from_existing_files_down_to_the_base(overlay: str) -> None:
    docs = build(K8S / "overlays" / overlay)
    assert set(of_kind(docs, "Deployment")) == set(SERVICES)
    kustomization = load(K8S / "overlays" / overlay / "kustomization.yaml")
    assert kustomization.get("namespace"), "an overlay chooses the namespace"


def test_every_base_manifest_is_listed_in_the_base_kustomization() -> None:
    listed = set(load(BASE / "kustomization.yaml")["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert present == listed


def test_no_secret_with_values_is_part_of_any_kustomization() -> None:
    for overlay in OVERLAYS:
        assert not of_kind(build(K8S / "overlays" / overlay), "Secret")
    for path in K8S.rglob("kustomization.yaml"):
        kustomization = load(path)
        listed = [*kustomization.get("resources", []), *kustomization.get("components", [])]
        assert not any(entry.endswith("secret.example.yaml") for entry in listed)
        assert "secretGenerator" not in kustomization


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_patches_apply_to_resources_and_paths_that_exist(overlay: str) -> None:
    directory = K8S / "overlays" / overlay
    docs = build(directory)
    for patch in load(directory / "kustomization.yaml").get("patches", []):
        if "path" in patch:
            (body,) = load_all(directory / patch["path"])
            kind, name = body["kind"], body["metadata"]["name"]
            assert name in of_kind(docs, kind), f"{patch['path']} patches a missing {kind}/{name}"
            if kind == "ConfigMap":
                assert set(body["data"]) <= set(of_kind(docs, kind)[name]["data"]), "a new key: misspelt?"
            continue
        target = patch["target"]
        matched = [
            doc
            for doc in docs
            if doc["kind"] == target["kind"]
            and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"]
        ]
        assert matched, f"{overlay}: patch target {target} matches nothing"
        for operation in yaml.safe_load(patch["patch"]):
            if operation["op"] == "replace":
                for doc in matched:
                    pointer(doc, operation["path"])  # replace needs the path to exist already


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_pins_every_service_image_by_tag(overlay: str) -> None:
    images = {
        image["name"]: image for image in load(K8S / "overlays" / overlay / "kustomization.yaml")["images"]
    }
    assert set(images) == {container(d)["image"] for d in deployments().values()}
    for image in images.values():
        assert image.get("newTag") and image["newTag"] != "latest"


def test_overlays_set_their_environment_and_replicas() -> None:
    dev = load(K8S / "overlays/dev/configmap.yaml")
    production = load(K8S / "overlays/production/configmap.yaml")
    assert dev["data"]["ENVIRONMENT"] == "development"
    assert production["data"]["ENVIRONMENT"] == "production"
    prod_patches = load(K8S / "overlays/production/kustomization.yaml")["patches"]
    three = {
        p["target"]["name"]
        for p in prod_patches
        if "target" in p
        and {"op": "replace", "path": "/spec/replicas", "value": 3} in yaml.safe_load(p["patch"])
    }
    assert three == {"gateway", "order", "inventory", "delivery"}
    assert (
        "../../components/autoscaling" in load(K8S / "overlays/production/kustomization.yaml")["components"]
    )


# --- Kubernetes: Deployments ---------------------------------------------------------------------------


def test_there_is_one_deployment_per_service() -> None:
    assert set(deployments()) == set(SERVICES)
    assert {p.parent.name for p in ROOT.glob("services/*/pyproject.toml")} == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_probes_and_bounded_resources(service: str) -> None:
    app = container(deployments()[service])
    assert app["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert app["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert app["startupProbe"]["httpGet"]["path"] == "/health/live"
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(app["resources"][bound])
    assert [port["containerPort"] for port in app["ports"]] == [8000]


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_non_root_read_only_without_capabilities(service: str) -> None:
    deployment = deployments()[service]
    pod = deployment["spec"]["template"]["spec"]
    security = {**pod.get("securityContext", {}), **container(deployment)["securityContext"]}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    (tmp,) = [m for m in container(deployment)["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_its_service_account_pdb_and_network_policy(service: str) -> None:
    docs = build(BASE)
    deployment = deployments()[service]
    labels = pod_labels(deployment)
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    svc = of_kind(docs, "Service")[service]
    assert selects(svc["spec"]["selector"], labels)
    assert [p["targetPort"] for p in svc["spec"]["ports"]] in (["http"], [8000])
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] in of_kind(docs, "ServiceAccount")
    pdbs = [
        p
        for p in of_kind(docs, "PodDisruptionBudget").values()
        if selects(p["spec"]["selector"]["matchLabels"], labels)
    ]
    assert [p["spec"]["minAvailable"] for p in pdbs] == [1]
    policies = of_kind(docs, "NetworkPolicy")
    own = policies[service]
    assert selects(own["spec"]["podSelector"]["matchLabels"], labels)
    assert [port["port"] for rule in own["spec"]["ingress"] for port in rule["ports"]] == [8000]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "8000"


def test_network_policies_deny_ingress_except_gateway_from_anywhere_and_others_from_faka() -> None:
    policies = of_kind(build(BASE), "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    assert all("Egress" not in p["spec"]["policyTypes"] for p in policies.values())
    assert all("from" not in rule for rule in policies["gateway"]["spec"]["ingress"])
    for service in SERVICES[1:]:
        (rule,) = policies[service]["spec"]["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "faka"}}}]
    faka = {"app.kubernetes.io/part-of": "faka"}
    assert all(selects(faka, pod_labels(d)) for d in deployments().values())


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_sets_every_secret_the_service_refuses_to_default_in_production(service: str) -> None:
    """Outside development a service refuses to start on a development secret default."""
    settings = importlib.import_module(f"{service}.config").Settings()
    needed = {field.upper() for field in settings.development_secrets()}
    from_secret = {
        variable["name"] for variable in container(deployments()[service])["env"] if "valueFrom" in variable
    }
    assert needed <= from_secret, needed - from_secret


def secret_key(variable: Doc) -> str | None:
    ref = variable.get("valueFrom", {}).get("secretKeyRef")
    return ref["key"] if ref else None


@pytest.mark.parametrize("service", SERVICES)
def test_each_deployment_reads_its_own_service_token_and_no_other_services(service: str) -> None:
    """One leaked pod must not speak for another service (a risk pod holding the gateway's token could
    reveal any order's keys)."""
    env = {variable["name"]: variable for variable in container(deployments()[service])["env"]}
    assert secret_key(env["SERVICE_TOKEN"]) == f"service-token-{service}"
    tokens = {key for v in env.values() if (key := secret_key(v)) and key.startswith("service-token-")}
    assert tokens == {f"service-token-{service}"}
    assert "INTERNAL_TOKEN" not in env and "internal-token" not in {secret_key(v) for v in env.values()}


def admitted_callers(service: str) -> dict[str, set[str]]:
    """`METHOD path` -> the callers each internal route of `service` admits, from its OpenAPI document."""
    app = importlib.import_module(f"{service}.entrypoints.app").app
    out = {}
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/internal"):
            for method, operation in operations.items():
                forbidden = operation["responses"].get("403", {}).get("description", "")
                assert forbidden.startswith(CALLERS_ADMITTED), f"{service} {method} {path} names no callers"
                # "... It admits: a, b" or "... It admits: a; or <another reason for a 403>"
                admits = forbidden.removeprefix(CALLERS_ADMITTED).split(";")[0]
                out[f"{method.upper()} {path}"] = set(admits.split(", "))
    return out


def test_every_internal_route_names_its_callers_and_only_the_key_readers_reveal_keys() -> None:
    routes = {service: admitted_callers(service) for service in SERVICES}
    assert routes["inventory"]["GET /internal/orders/{order_id}/keys"] == {"gateway", "notification"}
    assert routes["delivery"]["GET /internal/deliveries/{order_id}/content"] == {"gateway", "notification"}
    for service in ("risk", "commission"):
        for route, callers in routes[service].items():
            assert callers == {"gateway"}, route


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_knows_the_digests_of_exactly_the_callers_that_call_it(service: str) -> None:
    """Kubernetes and the end-to-end platform wire the same caller graph, and grant no caller a service's
    routes do not admit."""
    env = {variable["name"]: variable for variable in container(deployments()[service])["env"]}
    callers = CALLERS.get(service, ())
    if not callers:
        assert "INTERNAL_CALLERS" not in env
        return
    assert secret_key(env["INTERNAL_CALLERS"]) == f"internal-callers-{service}"
    (example, *_) = load_all(K8S / "secret.example.yaml")
    listed = json.loads(example["stringData"][f"internal-callers-{service}"])
    assert set(listed) == set(callers)
    admitted = set().union(*admitted_callers(service).values())
    assert set(callers) <= admitted, set(callers) - admitted


def uses_redis(service: str) -> bool:
    """The service's code reads REDIS_URL itself or builds circuit breakers (shared through Redis)."""
    sources = (ROOT / "services" / service / "src").rglob("*.py")
    return any("redis_url" in text or "breaker_factory" in text for text in (p.read_text() for p in sources))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_that_uses_redis_is_given_its_url(service: str) -> None:
    """Left unset, REDIS_URL falls back to a loopback default: no shared breakers, lookup limits or
    storefront read model in a pod."""
    names = {variable["name"] for variable in container(deployments()[service])["env"]}
    assert ("REDIS_URL" in names) == uses_redis(service), names


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_reads_only_settings_its_service_knows(service: str) -> None:
    """A misspelt variable would be silently ignored (extra="ignore"); catch it here."""
    fields = settings_fields(service)
    names = {variable["name"] for variable in container(deployments()[service])["env"]}
    assert names <= fields, names - fields
    assert "DATABASE_URL" in names


def test_every_config_map_key_is_a_setting_of_some_service() -> None:
    known = set().union(*(settings_fields(s) for s in SERVICES))
    for path in (BASE / "configmap.yaml", *(K8S / "overlays" / o / "configmap.yaml" for o in OVERLAYS)):
        keys = set(load(path)["data"])
        assert keys <= known, f"{path}: {keys - known}"


def test_every_service_url_a_service_reads_points_at_that_service_in_kubernetes_and_compose() -> None:
    """A `<service>_URL` left to its loopback default would make the pod call itself (a missing DELIVERY_URL
    once sent the gateway's delivery calls to 127.0.0.1:8003)."""
    wanted = {f"{s.upper()}_URL" for s in SERVICES} & set().union(*(settings_fields(s) for s in SERVICES))
    shared = load(BASE / "configmap.yaml")["data"]
    compose_env = compose()["services"]["gateway"]["environment"]
    for name in sorted(wanted):
        target = f"http://{name.removesuffix('_URL').lower()}:8000"
        assert shared.get(name) == target, f"configmap {name}={shared.get(name)!r}"
        assert compose_env.get(name) == target, f"compose {name}={compose_env.get(name)!r}"


def test_every_secret_a_deployment_reads_is_in_the_secret_example() -> None:
    example = {doc["metadata"]["name"]: doc for doc in load_all(K8S / "secret.example.yaml")}
    assert all(doc["kind"] == "Secret" for doc in example.values())
    for service, deployment in deployments().items():
        app = container(deployment)
        for variable in app["env"]:
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in example[ref["name"]]["stringData"], f"{service}: {variable['name']}"
        for source in app.get("envFrom", []):
            if "secretRef" in source:
                name = source["secretRef"]["name"]
                assert set(example[name]["stringData"]) <= settings_fields(service)
        ref = next(v for v in app["env"] if v["name"] == "DATABASE_URL")["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "faka-secrets", "key": f"database-url-{service}"}


# --- Kubernetes: Kafka topics and autoscaling ----------------------------------------------------------


def test_every_topic_its_dead_letter_topic_and_each_consumers_retry_topic_is_a_strimzi_kafka_topic() -> None:
    kafka_topics = of_kind(build(BASE), "KafkaTopic")
    retries = {topics.retry(group) for group, _ in consumed().values()}
    assert set(kafka_topics) == set(topics.ALL) | {topics.dead_letter(t) for t in topics.ALL} | retries
    for topic in kafka_topics.values():
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "faka"
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] in (2, "2")
    for name in topics.ALL:
        assert kafka_topics[name]["spec"]["partitions"] == topics.partitions(name) == topics.EVENT_PARTITIONS
        dlq = kafka_topics[topics.dead_letter(name)]["spec"]
        assert dlq["partitions"] == 3
        assert int(dlq["config"]["retention.ms"]) == DLQ_RETENTION_MS
    for name in retries:
        # parked messages wait at most a day before they are dead-lettered: a week keeps them
        assert kafka_topics[name]["spec"]["partitions"] == topics.partitions(name) == 3
        assert int(kafka_topics[name]["spec"]["config"]["retention.ms"]) >= 7 * 24 * 3600 * 1000
    for name in topics.ALL:
        assert topics.partitions(name) == kafka_topics[name]["spec"]["partitions"], "locally as in k8s"


@cache
def consumed() -> dict[str, tuple[str, frozenset[str]]]:
    """What each service's broker really subscribes to: consumer group and the event topics (namespace
    removed; its retry topic, whose lag is time waited out and no reason to scale, left out)."""
    namespace = os.environ.get("KAFKA_NAMESPACE", "")
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for service in SERVICES:
        broker = importlib.import_module(f"{service}.entrypoints.app").asyncapi.broker
        groups = {subscriber.group_id.removeprefix(namespace) for subscriber in broker.subscribers}
        if not groups:
            continue
        assert len(groups) == 1, f"{service} consumes in several groups; the ScaledObject needs revisiting"
        (group,) = groups
        names = {t.removeprefix(namespace) for s in broker.subscribers for t in s.topic_names}
        assert topics.retry(group) in names, f"{service} does not read its retry topic"
        out[service] = (group, frozenset(names - {topics.retry(group)}))
    return out


def test_every_consuming_service_scales_on_the_lag_of_its_group_and_topics() -> None:
    scaled = of_kind(everything(), "ScaledObject")
    assert set(consumed()) == set(CONSUMERS) == set(scaled)
    for service, (group, subscribed) in consumed().items():
        spec = scaled[service]["spec"]
        assert scaled[service]["apiVersion"] == "keda.sh/v1alpha1"
        assert spec["scaleTargetRef"]["name"] == service
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {group}
        assert {t["metadata"]["topic"] for t in triggers} == subscribed
        assert spec["maxReplicaCount"] <= topics.EVENT_PARTITIONS, "more replicas than partitions sit idle"


def test_the_gateway_scales_on_cpu() -> None:
    (hpa,) = of_kind(everything(), "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# --- docker-compose, Dockerfiles, Prometheus, Grafana --------------------------------------------------


def compose() -> Doc:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_seven_services_each_on_its_own_database() -> None:
    services = compose()["services"]
    assert set(SERVICES) <= set(services)
    assert {"kafka", "postgres", "redis", "mailpit", "prometheus", "grafana"} <= set(services)
    for name in SERVICES:
        service = services[name]
        assert service["build"]["context"] == "."
        assert service["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        environment = service["environment"]
        assert environment["DATABASE_URL"].endswith(f"/faka_{name}")
        assert environment["ENVIRONMENT"] == "development"
        assert set(environment) <= set().union(*(settings_fields(s) for s in SERVICES))
        assert "/health/ready" in " ".join(service["healthcheck"]["test"])
        assert all("condition" in dependency for dependency in service["depends_on"].values())
        assert service["read_only"] is True
    assert "127.0.0.1:8000:8000" in services["gateway"]["ports"]
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"


DOCKERFILE = ROOT / "deploy" / "docker" / "service.Dockerfile"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_dockerfile_is_the_one_shared_recipe(service: str) -> None:
    dockerfile = ROOT / "services" / service / "Dockerfile"
    assert dockerfile.is_symlink() and dockerfile.resolve() == DOCKERFILE.resolve()
    assert (ROOT / "services" / service / "src" / service / "entrypoints" / "app.py").is_file()
    assert compose()["services"][service]["build"]["args"] == {"SERVICE": service}


def test_shared_dockerfile_runs_the_named_service_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    assert "USER 10001" in text and "EXPOSE 8000" in text
    assert "--package faka-${SERVICE}" in text
    assert 'exec uvicorn \\"${FAKA_SERVICE}.entrypoints.app:app\\"' in text
    assert 'test -n "${SERVICE}"' in text


def test_no_service_believes_forwarded_headers_on_uvicorns_word() -> None:
    """uvicorn's proxy headers trust X-Forwarded-For from loopback (and FORWARDED_ALLOW_IPS) by default:
    the gateway reads it from TRUSTED_PROXIES only, so every uvicorn runs with --no-proxy-headers."""
    commands = [DOCKERFILE.read_text(), *(ROOT / "deploy" / "local" / "Procfile").read_text().splitlines()]
    uvicorns = [c for c in commands if "exec uvicorn" in c]
    assert len(uvicorns) == 1 + len(SERVICES)
    assert all("--no-proxy-headers" in c for c in uvicorns)


def test_dockerfile_copies_only_paths_that_exist_and_every_workspace_manifest() -> None:
    text = DOCKERFILE.read_text().replace("${SERVICE}", "order")
    sources = [
        source
        for line in text.splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    for source in sources:
        assert (ROOT / source).exists(), source
    manifests = {str(p.relative_to(ROOT)) for p in ROOT.glob("services/*/pyproject.toml")}
    assert manifests | {"libs/common/pyproject.toml", "pyproject.toml", "uv.lock"} <= set(sources)


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert {f"{s}:8000" for s in SERVICES} <= targets


def exported_metric_names() -> set[str]:
    """Every sample name the services can expose through the shared registry."""
    from faka_common.messaging import consumer, relay  # noqa: F401  (registers the metrics)
    from prometheus_client import REGISTRY

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {
        family.name + suffix for family in REGISTRY.collect() for suffix in suffixes.get(family.type, [""])
    }


def test_grafana_dashboard_uses_only_metrics_that_exist() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/faka-overview.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in expressions for name in re.findall(r"\bfaka_[a-z_]+", expr)}
    assert used, "the dashboard queries nothing"
    missing = used - exported_metric_names()
    assert not missing
    for required in (
        "faka_outbox_backlog",
        "faka_consumer_messages_total",
        "faka_consumer_records_in_process",
    ):
        assert required in used
    datasources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uids = {d["uid"] for d in datasources["datasources"]}
    assert {t["datasource"]["uid"] for panel in dashboard["panels"] for t in panel.get("targets", [])} <= uids
