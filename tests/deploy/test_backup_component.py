"""The Kubernetes backup job (deploy/k8s/components/backups) and its image: it backs up every service's
database with deploy/local/backup.py, is given the database URLs and no other secret (never the keyring),
runs hardened, and keeps a bounded number of backups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_backup_restore import backup

from .test_manifests import K8S, ROOT, SERVICES, build, of_kind

COMPONENT = K8S / "components" / "backups"
DOCKERFILE = ROOT / "deploy" / "docker" / "backup.Dockerfile"


def job_container() -> dict[str, Any]:
    cronjob = of_kind(build(COMPONENT), "CronJob")["backup"]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_job_is_given_every_service_database_url_and_no_other_secret() -> None:
    env = {item["name"]: item["valueFrom"]["secretKeyRef"] for item in job_container()["env"]}
    assert env == {
        f"DATABASE_URL_{service.upper()}": {"name": "faka-secrets", "key": f"database-url-{service}"}
        for service in SERVICES
    }
    text = (COMPONENT / "backups.yaml").read_text()
    assert "key-encryption-keys" not in text and "envFrom" not in text


def test_the_tool_reads_exactly_the_urls_the_job_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tuple(backup.SERVICES) == SERVICES
    for item in job_container()["env"]:
        monkeypatch.setenv(item["name"], f"postgresql://backup@db:5432/{item['name'].lower()}")
    assert backup.service_databases() == {
        service: f"postgresql://backup@db:5432/database_url_{service}" for service in SERVICES
    }


def test_the_job_runs_hardened_one_at_a_time_and_keeps_a_bounded_number_of_backups() -> None:
    cronjob = of_kind(build(COMPONENT), "CronJob")["backup"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = job_container()
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["args"][:1] == ["backup"] and "--keep" in container["args"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    root = container["args"][container["args"].index("--root") + 1]
    claim = volumes[mounts[root]]["persistentVolumeClaim"]["claimName"]
    assert claim in of_kind(build(COMPONENT), "PersistentVolumeClaim")


def test_the_image_runs_the_backup_tool_with_the_postgres_client_tools() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY deploy/local/backup.py /app/backup.py" in text
    assert 'ENTRYPOINT ["python3", "/app/backup.py"]' in text
    assert "FROM ${POSTGRES_IMAGE}" in text and "python3-asyncpg" in text


def test_pruning_keeps_the_newest_backups_and_nothing_else_is_touched(tmp_path: Path) -> None:
    for stamp in ("20261201T031700Z", "20261202T031700Z", "20261203T031700Z"):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / "manifest.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    removed = backup.prune(tmp_path, 2)
    assert removed == [tmp_path / "20261201T031700Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261202T031700Z", "20261203T031700Z", "notes"]
