"""Storage backends for the tests: in memory, SQLite (a temp file) and PostgreSQL.

PostgreSQL tests run against the server named by ``HBO_TEST_POSTGRES_URL`` (start one
with ``eval "$(.ci/postgres.sh)"``); without it they are skipped with that reason.
Each test gets its own study name, so tests share the PostgreSQL database safely.
"""

import os
import uuid

import pytest

POSTGRES_URL = os.environ.get("HBO_TEST_POSTGRES_URL")
SKIP_POSTGRES = (
    "PostgreSQL tests need a server: run `eval \"$(.ci/postgres.sh)\"` to start one and "
    "export HBO_TEST_POSTGRES_URL"
)


def database_url(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if POSTGRES_URL is None:
        pytest.skip(SKIP_POSTGRES)
    return POSTGRES_URL


@pytest.fixture
def make_url(tmp_path):
    """``make_url("sqlite")`` or ``make_url("postgresql")`` (skips without a server)."""
    return lambda kind: database_url(kind, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request, tmp_path) -> str:
    """A database URL, once for SQLite and once for PostgreSQL."""
    return database_url(request.param, tmp_path)


@pytest.fixture
def study_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
