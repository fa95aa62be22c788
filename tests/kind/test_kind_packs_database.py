"""The packs' PostgreSQL image (images/postgres), run the way k8s/kind/packs-database.yaml
runs it, as a real container without a cluster: uid 999, read-only root, no capabilities,
no privilege escalation, the password from a mounted Secret-like file, the data folder and
the socket folder the only writable places. Clients reach it over a loopback-published
port with scram-sha-256, and the packs create their real schemas in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from queuefleet_packs.approval.activities import SCHEMA as APPROVAL_SCHEMA
from queuefleet_packs.labs.store import SCHEMA as LABS_SCHEMA
from queuefleet_packs.postgres import pack_database_from
from queuefleet_packs.saga.activities import SCHEMA as SAGA_SCHEMA

from testbed.docker import DockerEngine
from testbed.kind import build_images
from testbed.process import free_port

START_TIMEOUT = 90.0
UID = 999  # runAsUser of the manifest, the image's postgres account
# What the pod mounts writable (emptyDirs), everything else is read-only.
POD_FLAGS = (
    "--read-only", "--user", f"{UID}:{UID}", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--tmpfs", "/tmp",
    "--tmpfs", f"/var/run/postgresql:uid={UID},gid={UID}",
    "--tmpfs", f"/var/lib/postgresql/data:uid={UID},gid={UID}",
    "--env", "PGDATA=/var/lib/postgresql/data/pgdata",
)  # fmt: skip


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed: {result.stderr.strip()}", pytrace=False)
    return result


@pytest.fixture(scope="module")
def image(docker_engine: DockerEngine, artifacts: Path) -> str:
    """The image, built (or found cached) by `make images IMAGES=postgres`."""
    log = artifacts / "kind" / "images-postgres-make.log"
    return build_images("postgres", log_path=log, timeout=1800)["postgres"]


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    password: str

    def uri(self, password: str | None = None) -> str:
        return (
            f"postgresql://queuefleet:{password or self.password}@127.0.0.1:{self.port}/queuefleet"
        )


@pytest.fixture(scope="module")
def server(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    password = secrets.token_hex(24)
    secret = tmp_path_factory.mktemp("packs-db-secret") / "password"
    secret.write_text(password)
    # As the Secret volume mounts it: root-owned, readable by the pod's group (fsGroup 999).
    os.chown(secret, 0, UID)
    secret.chmod(0o440)
    port = free_port()
    name = f"qf-packs-db-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "--detach", "--rm", "--name", name, *POD_FLAGS,
        "--volume", f"{secret}:/etc/packs-db/password:ro",
        "--env", "POSTGRES_PASSWORD_FILE=/etc/packs-db/password",
        "--publish", f"127.0.0.1:{port}:5432",
        image,
    )  # fmt: skip
    try:
        endpoint = Server(name, port, password)
        wait_for_login(endpoint)
        yield endpoint
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def wait_for_login(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(server.uri(), connect_timeout=3):
                return
        except psycopg.OperationalError as error:
            last_error = error
            time.sleep(0.5)
    logs = docker("logs", "--tail", "30", server.name, check=False)
    pytest.fail(f"no login in {START_TIMEOUT:.0f}s ({last_error}); logs:\n{logs.stderr}")


def test_image_runs_as_the_fixed_non_root_account(image: str) -> None:
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert "/var/lib/postgresql/data" in config["Volumes"]


def test_the_password_from_the_file_logs_in_and_a_wrong_one_does_not(server: Server) -> None:
    with psycopg.connect(server.uri(), connect_timeout=5) as connection:
        version, user, database = connection.execute(
            "SELECT current_setting('server_version_num')::int, current_user, current_database()"
        ).fetchone() or (0, "", "")
        method = connection.execute("SHOW password_encryption").fetchone()
    assert version // 10000 == 15
    assert (user, database) == ("queuefleet", "queuefleet")
    assert method == ("scram-sha-256",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.uri(password="not-" + server.password), connect_timeout=5)


def test_the_packs_create_their_schemas_in_it(server: Server) -> None:
    async def create_all() -> None:
        for pack, schema in (
            ("saga", SAGA_SCHEMA),
            ("approval", APPROVAL_SCHEMA),
            ("labs", LABS_SCHEMA),
        ):
            database = pack_database_from(
                {f"QUEUEFLEET_{pack.upper()}_DATABASE": server.uri()}, pack=pack, schema=schema
            )
            async with database.transaction() as connection:
                await connection.execute("SELECT 1")

    asyncio.run(create_all())
    with psycopg.connect(server.uri(), connect_timeout=5) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {"saga_effects", "approval_tasks", "lab_requests", "lab_locks"} <= tables


def test_nothing_outside_the_volumes_is_writable(server: Server) -> None:
    probe = docker("exec", server.name, "touch", "/usr/local/probe", check=False)
    assert probe.returncode != 0
    assert "Read-only file system" in probe.stderr


def test_a_first_start_without_a_password_stops_with_one_line(image: str) -> None:
    result = docker("run", "--rm", *POD_FLAGS, image, check=False, timeout=60)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "POSTGRES_PASSWORD_FILE" in message
