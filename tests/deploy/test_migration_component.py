"""The migration Job (deploy/k8s/components/migrations, used by the production overlay): every service's
database is migrated by one Job, each service from its own image with its own database URL and no other
secret; the serving pods start with RUN_MIGRATIONS off, waiting for their schema instead of running DDL."""

from __future__ import annotations

from typing import Any

import pytest
from faka_common.settings import ServiceSettings

from .test_manifests import K8S, ROOT, SERVICES, build, of_kind
from .test_rendered_manifests import render

COMPONENT = K8S / "components" / "migrations"


def containers(docs: Any) -> dict[str, dict[str, Any]]:
    pod = of_kind(tuple(docs), "Job")["migrate"]["spec"]["template"]["spec"]
    return {container["name"]: container for container in pod["containers"]}


def test_one_container_per_service_runs_the_migrate_module_from_that_services_image() -> None:
    found = containers(build(COMPONENT))
    assert tuple(found) == SERVICES
    for service, container in found.items():
        assert container["image"] == f"faka/{service}"
        assert container["command"] == ["python", "-m", "faka_common.db.migrate"]


def test_each_container_is_given_its_own_database_url_and_no_other_secret() -> None:
    for service, container in containers(build(COMPONENT)).items():
        assert "envFrom" not in container
        assert container["env"] == [
            {
                "name": "DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": "faka-secrets", "key": f"database-url-{service}"}},
            }
        ]


def test_the_images_name_their_service_so_the_job_needs_no_argument() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "service.Dockerfile").read_text()
    assert "FAKA_SERVICE=${SERVICE}" in dockerfile
    assert "COPY services/${SERVICE}/migrations services/${SERVICE}/migrations" in dockerfile


def test_the_job_runs_hardened_and_cleans_itself_up() -> None:
    job = of_kind(build(COMPONENT), "Job")["migrate"]
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["restartPolicy"] == "OnFailure"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0 and job["spec"]["backoffLimit"] > 0
    for container in pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def config(overlay: str) -> dict[str, str]:
    return dict(of_kind(tuple(render(K8S / "overlays" / overlay)), "ConfigMap")["faka-config"]["data"])


def test_production_migrates_by_the_job_and_its_services_wait_for_their_schema() -> None:
    rendered = render(K8S / "overlays" / "production")
    assert tuple(containers(rendered)) == SERVICES
    images = {c["name"]: c["image"] for c in containers(rendered).values()}
    deployments = of_kind(tuple(rendered), "Deployment")
    for service in SERVICES:
        (serving,) = deployments[service]["spec"]["template"]["spec"]["containers"]
        assert images[service] == serving["image"], "the Job must migrate for the image that serves"
    assert config("production")["RUN_MIGRATIONS"] == "false"


def test_dev_keeps_migrating_at_start_up() -> None:
    assert "RUN_MIGRATIONS" not in config("dev")
    assert "Job" not in {doc["kind"] for doc in render(K8S / "overlays" / "dev")}


def test_the_settings_the_component_sets_are_ones_the_services_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUN_MIGRATIONS", config("production")["RUN_MIGRATIONS"])
    monkeypatch.setenv("MIGRATION_WAIT_SECONDS", config("production")["MIGRATION_WAIT_SECONDS"])
    settings = ServiceSettings(service_name="order", environment="development")
    assert settings.run_migrations is False
    assert settings.migration_wait_seconds == 150.0
