"""Pack tests that need PostgreSQL get a fresh database of their own in the session's server."""

from __future__ import annotations

import uuid

import pytest

from testbed.postgres import PostgresEndpoint


@pytest.fixture
def database_uri(postgres: PostgresEndpoint) -> str:
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")
