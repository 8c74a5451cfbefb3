"""deploy/k8s/components/managed-kafka: every service Deployment reads the brokers' security from the Secret
faka-kafka (the KAFKA_* settings every service has) and may mount its CA; rendered with the real kustomize."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from faka_common.messaging.security import KafkaSettings

from .test_manifests import K8S, SERVICES
from .test_rendered_manifests import render

COMPONENT = K8S / "components" / "managed-kafka"


def with_component(target: Path) -> Path:
    relative = Path(os.path.relpath(K8S, target))
    (target / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(relative / "base")],
                "components": [str(relative / "components" / COMPONENT.name)],
            }
        )
    )
    return target


def test_every_service_reads_the_kafka_secret_and_mounts_its_ca_optionally(tmp_path: Path) -> None:
    docs = render(with_component(tmp_path))
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert {"secretRef": {"name": "faka-kafka"}} in container["envFrom"], name
        assert {"name": "kafka-ca", "mountPath": "/etc/faka/kafka", "readOnly": True} in container[
            "volumeMounts"
        ]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "kafka-ca"]
        assert volume["secret"]["secretName"] == "faka-kafka" and volume["secret"]["optional"] is True


def test_the_settings_the_component_names_are_ones_the_services_read() -> None:
    named = {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
             "KAFKA_SSL_CAFILE", "KAFKA_BOOTSTRAP_SERVERS"}  # fmt: skip
    text = (COMPONENT / "kustomization.yaml").read_text()
    assert all(setting in text for setting in named)
    assert {setting.lower() for setting in named} <= set(KafkaSettings.model_fields)
