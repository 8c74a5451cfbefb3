"""The local platforms (`make up`, docker compose) say ENVIRONMENT=development themselves, since a service
left without it is production and refuses the published development secrets they run on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_up_starts_the_services_in_development() -> None:
    script = (ROOT / "deploy" / "local" / "services.sh").read_text()
    start = script.split("start)", 1)[1].split(";;", 1)[0]
    assert re.search(r"^\s*export ENVIRONMENT=development$", start, re.MULTILINE), start
