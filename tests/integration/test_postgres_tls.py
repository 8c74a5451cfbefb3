"""A managed PostgreSQL over verified TLS: the services' engines, their migrations and the outbox relay's
plain asyncpg connections all take libpq's TLS parameters from the database URL (sslmode=verify-full,
sslrootcert), against a real server that has TLS on; a certificate from another CA is refused."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from faka_common.db.engine import create_engine
from faka_common.db.migrations import schema_behind, upgrade
from merchant.config import MIGRATIONS
from sqlalchemy import text

from .kafka_tls import write_certificates
from .test_backup_restore import fresh_postgres

pytestmark = pytest.mark.integration


@pytest.fixture
async def tls_server() -> AsyncIterator[tuple[str, Path]]:
    """A fresh server with TLS on (its certificate for 127.0.0.1 signed by the test's CA) and the CA file.
    The files live where the server's user can read them (pytest's own temporary tree is root's alone)."""
    certs = Path(tempfile.mkdtemp(prefix="faka-pg-tls-"))
    cafile, keystore = write_certificates(certs)
    pem = keystore.read_text()
    key_end = pem.index("-----END PRIVATE KEY-----") + len("-----END PRIVATE KEY-----\n")
    (certs / "server.key").write_text(pem[:key_end])
    (certs / "server.crt").write_text(pem[key_end:])
    os.chmod(certs / "server.key", 0o600)
    if os.geteuid() == 0:
        for path in (certs, certs / "server.key", certs / "server.crt"):
            shutil.chown(path, "postgres", "postgres")
    ssl = f"-c ssl=on -c ssl_cert_file={certs / 'server.crt'} -c ssl_key_file={certs / 'server.key'}"
    try:
        async with fresh_postgres(ssl) as url:
            yield url, cafile
    finally:
        shutil.rmtree(certs, ignore_errors=True)


async def test_engines_migrations_and_plain_connections_use_verified_tls_from_the_url(
    tls_server: tuple[str, Path],
) -> None:
    server, cafile = tls_server
    url = server.rsplit("/", 1)[0] + f"/tls_check?sslmode=verify-full&sslrootcert={cafile}"

    await upgrade(url, MIGRATIONS)  # creates the database over a plain asyncpg connection, then alembic
    assert await schema_behind(url, MIGRATIONS) is None

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SHOW ssl"))).scalar() == "on"
            in_use = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            assert (await connection.execute(text(in_use))).scalar() is True
    finally:
        await engine.dispose()


async def test_a_server_certificate_from_another_ca_is_refused(
    tls_server: tuple[str, Path], tmp_path: Path
) -> None:
    server, _ = tls_server
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _ = write_certificates(other)
    url = server + f"?sslmode=verify-full&sslrootcert={other_ca}"
    engine = create_engine(url)
    try:
        with pytest.raises(Exception, match="certificate verify failed"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    with pytest.raises(Exception, match="certificate verify failed"):
        await asyncpg.connect(url)
