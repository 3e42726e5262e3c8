import os

import pytest
import torch as th

# Two pytest-xdist workers share two cores: one intra-op thread each keeps them from fighting
th.set_num_threads(int(os.environ.get("SB3_SPIKING_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    th.manual_seed(0)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session (tests/postgres.py); in CI (CI=true) missing binaries fail, never skip."""
    from postgres import PostgresServer, find_binaries

    bin_dir = find_binaries()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found: `make install` installs them (apt-get, as root)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server, request):
    """The SQLAlchemy URL (``postgresql+psycopg://``) of a new, empty database on the session's PostgreSQL server."""
    name = "test_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return postgres_server.create_database(name)
