"""The local platforms (`make up`, docker compose) say ENVIRONMENT=development themselves, since a service
left without it is production and refuses the published development secrets they run on."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_make_up_starts_the_services_in_development() -> None:
    script = (ROOT / "deploy" / "local" / "services.sh").read_text()
    start = script.split("start)", 1)[1].split(";;", 1)[0]
    assert re.search(r"^\s*export ENVIRONMENT=development$", start, re.MULTILINE), start


def test_compose_publishes_every_port_on_loopback_only() -> None:
    """The compose stack runs on the development secrets: a port on all interfaces would hand the shop and
    its admin API (with the published admin key) to the network."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    published = {name: service.get("ports", []) for name, service in services.items()}
    assert published["gateway"], "the gateway is published"
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
