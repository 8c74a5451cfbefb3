"""The local platform's operator, for the scripts that load it (the demo, the benchmark): `faka-admin` run on
the merchant service's local settings, making the demo shop's owner and API tokens for the scripts. Tokens
and passwords are printed by faka-admin once and kept by nobody here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKA_ADMIN = ROOT / ".venv" / "bin" / "faka-admin"
#: The default shop's owner `make up` creates: the login it prints is this address and a random password.
DEMO_OWNER = "demo-owner@example.com"


def faka_admin(*args: str) -> list[str]:
    """Run faka-admin against the local merchant database (as `make up` runs the services: development, each
    service's own database) and return its output lines; a refusal ends the script with its reason."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if merchant := os.environ.get("FAKA_MERCHANT_DATABASE_URL"):  # a second installation (the chaos run's)
        env["DATABASE_URL"] = merchant
    env["ENVIRONMENT"] = "development"
    command = [str(FAKA_ADMIN), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"faka-admin {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()


def demo_owner_login() -> tuple[str, str]:
    """Make the demo owner of the default shop with a fresh random password: (email, password)."""
    lines = faka_admin("create-shop-owner", "--shop", "default", "--email", DEMO_OWNER, "--random-password")
    fields = dict(line.split(": ", 1) for line in lines[-2:])
    return fields["email"], fields["password"]


def api_token(name: str, *, owner_exists: bool = False) -> str:
    """A new API token of the default shop with every scope, made for the demo owner (made first, without
    touching a password it has, unless the caller knows it exists)."""
    if not owner_exists:
        faka_admin("create-shop-owner", "--shop", "default", "--email", DEMO_OWNER)
    return faka_admin(
        "create-api-token", "--shop", "default", "--by", DEMO_OWNER, "--name", name, "--all-scopes"
    )[-1]
