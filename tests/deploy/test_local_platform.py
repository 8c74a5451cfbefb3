"""The local platforms (`make up`, docker compose) say ENVIRONMENT=development themselves, since a service
left without it is production and refuses the published development secrets they run on."""

from __future__ import annotations

import re
import subprocess
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


def _run_procfile(procfile: Path, out: Path) -> None:
    """services.sh's `write_procfile` on `procfile` (the Procfile honcho is given), written to `out`."""
    script = ROOT / "deploy" / "local" / "services.sh"
    function = re.search(r"^write_procfile\(\) \{.*?^\}", script.read_text(), re.MULTILINE | re.DOTALL)
    assert function, "services.sh defines write_procfile"
    subprocess.run(
        ["/bin/bash", "-c", f"{function.group(0)}\nwrite_procfile"],
        env={"SCRIPT_DIR": str(procfile.parent), "RUN_PROCFILE": str(out), "PATH": "/usr/bin:/bin"},
        check=True,
    )


def test_make_up_runs_every_procfile_command_with_its_output_in_its_own_log(tmp_path: Path) -> None:
    """honcho starts and stops the processes, but their lines go straight to .state/logs/<name>.log: relayed
    through honcho, each line cost it about 0.1 ms of CPU, 1.3-1.6 ms a sale end to end."""
    procfile = ROOT / "deploy" / "local" / "Procfile"
    run = tmp_path / "Procfile.run"
    _run_procfile(procfile, run)
    given = dict(line.split(":", 1) for line in procfile.read_text().splitlines() if line.strip())
    ran = dict(line.split(":", 1) for line in run.read_text().splitlines())
    assert ran.keys() == given.keys()
    for name, command in given.items():
        assert ran[name] == f'{command} >>"$FAKA_STATE_DIR/logs/{name}.log" 2>&1', name

    # and a command so written does write its own log, stdout and stderr, appended
    tiny = tmp_path / "tiny" / "Procfile"
    tiny.parent.mkdir()
    tiny.write_text("said: exec sh -c 'echo out; echo err >&2'\n")
    _run_procfile(tiny, run)
    (tmp_path / "logs").mkdir()
    command = run.read_text().split(":", 1)[1]
    for _ in range(2):
        subprocess.run(["/bin/sh", "-c", command], env={"FAKA_STATE_DIR": str(tmp_path)}, check=True)
    assert (tmp_path / "logs" / "said.log").read_text().split() == ["out", "err", "out", "err"]
