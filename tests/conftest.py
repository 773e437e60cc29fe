"""Shared fixtures.

Two environment variables choose the database; ``make test`` runs the suite once on each:

``FLEETDECK_TEST_DB``
    ``sqlite`` (the default) or ``postgres``. Any other value stops the run at once (a typo
    such as ``postgress`` must not quietly test SQLite).
``FLEETDECK_TEST_PG``
    the PostgreSQL server a ``postgres`` run uses: an admin URL allowed to create databases,
    default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``.

A ``postgres`` run whose server cannot be reached fails at once with a message naming the URL it
tried; it never becomes a green run of skipped tests. That holds on a developer's machine too
(``make test`` asks for PostgreSQL explicitly, and so does CI): without a PostgreSQL server,
run ``make test-sqlite``.

``--database-tests-only`` (``make test-postgres`` passes it) leaves out the tests that use no
database (``uses_database``): the SQLite run has run them, and ``.ci/counts.py`` checks it did.

Every test gets an empty, migrated database: on SQLite a copy of a migrated template file, on
PostgreSQL a throwaway database created for the run (one per xdist worker) whose tables are
truncated before each test.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from fleetdeck.app import Runtime, build_runtime
from fleetdeck.core.authz import Actor, Role, system_actor
from fleetdeck.settings import Settings
from fleetdeck.storage import migrate
from fleetdeck.storage.db import Database
from fleetdeck.storage.tables import Base
from tests import factories

BACKENDS = ("sqlite", "postgres")
BACKEND = os.environ.get("FLEETDECK_TEST_DB") or "sqlite"
PG_ADMIN_URL = os.environ.get("FLEETDECK_TEST_PG") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# A migrated SQLite database made beforehand, used as the template instead of migrating one per
# session: ``make mutation`` sets it, because mutmut starts a pytest session for every mutant and
# migrating took most of such a session's time.
SQLITE_TEMPLATE = os.environ.get("FLEETDECK_TEST_SQLITE_TEMPLATE", "")
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# The cheapest valid argon2id cost: the suite creates and logs in hundreds of users, and at the
# production cost (tested in tests/unit/core/test_passwords.py) each hash takes 0.2-0.5 s.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
CHEAP_ARGON2_ENV = {f"FLEETDECK_{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()}


def _pg_problem() -> str | None:
    """Why the server at ``FLEETDECK_TEST_PG`` cannot be used, or None when it answers."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    except Exception as exc:  # a malformed URL or a missing driver
        return f"{type(exc).__name__}: {exc}"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        engine.dispose()
    return None


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return repr(url)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse an unknown backend and an unreachable PostgreSQL before anything is collected.
    Only the controlling process checks; xdist workers start after it has."""
    if BACKEND not in BACKENDS:
        raise pytest.UsageError(
            f"FLEETDECK_TEST_DB={BACKEND!r} is not a backend of this suite; use one of {', '.join(BACKENDS)}"
        )
    if BACKEND == "postgres" and not hasattr(config, "workerinput"):
        problem = _pg_problem()
        if problem is not None:
            pytest.exit(
                f"FLEETDECK_TEST_DB=postgres, but PostgreSQL at {_shown(PG_ADMIN_URL)}"
                f" (FLEETDECK_TEST_PG) cannot be used: {problem}. Start it, point FLEETDECK_TEST_PG"
                " at a server that can, or run the SQLite suite (make test-sqlite).",
                returncode=pytest.ExitCode.TESTS_FAILED,
            )


# What a test needs to be run on both backends: the database fixture (everything that reaches
# the database, an app, a server process, a runtime, gets its URL from ``db_url``), or a module
# that looks at the backend itself.
DATABASE_FIXTURE = "db_url"
BACKEND_NAMES = ("BACKEND", "PG_ADMIN_URL")


def uses_database(item: pytest.Item) -> bool:
    """Whether ``item`` reaches the database under test: ``db_url`` in its fixture closure, or a
    module that reads ``BACKEND``/``PG_ADMIN_URL``. The rest (the agent, the protocol, codecs,
    tools, document checks, migrations of their own SQLite files) behave the same on both."""
    if DATABASE_FIXTURE in getattr(item, "fixturenames", ()):
        return True
    module = getattr(item, "module", None)
    return module is None or any(name in vars(module) for name in BACKEND_NAMES)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="leave out the tests that use no database (tests/conftest.py uses_database); `make"
        " test-postgres` passes it because `make test-sqlite` has run them (docs/testing.md)",
    )


def left_out_path(config: pytest.Config) -> Path | None:
    """Where a ``--database-tests-only`` run lists the node ids it left out (next to its junit
    XML: ``.ci/counts.py`` checks each of them passed in the SQLite run)."""
    xml = config.getoption("xmlpath", None)
    return Path(xml).with_suffix(".left-out") if xml else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("database_tests_only"):
        return
    left = [item for item in items if not uses_database(item)]
    if not left:
        return
    config.hook.pytest_deselected(items=left)
    items[:] = [item for item in items if uses_database(item)]
    path = left_out_path(config)
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    if path is not None and worker == "gw0":  # every worker collects the same; one writes
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{item.nodeid}\n" for item in left))
        tmp.replace(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    path = left_out_path(config)
    if config.getoption("database_tests_only") and not hasattr(config, "workerinput"):
        n = len(path.read_text().splitlines()) if path and path.is_file() else "the"
        terminalreporter.write_line(
            f"--database-tests-only: {n} tests that use no database left to the SQLite run"
            + (f" (listed in {path})" if path else "")
        )


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to clone per test."""
    if BACKEND == "postgres":
        name = f"fdtest_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    elif SQLITE_TEMPLATE:
        yield SQLITE_TEMPLATE  # never written to: every test works on its own copy
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        db = Database(f"sqlite:///{path}")
        migrate.upgrade(db)
        db.dispose()
        yield str(path)


_EMPTY_PG = "".join(f'DELETE FROM "{t.name}";' for t in reversed(Base.metadata.sorted_tables)) + (
    "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, false)"
    " FROM pg_sequences WHERE schemaname = current_schema();"
)


@pytest.fixture
def db_url(_template: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if not uses_database(request.node):
        # ``request.getfixturevalue`` alone hides the database from the collection, which would
        # leave the test out of the PostgreSQL run (--database-tests-only): refused on every run.
        raise pytest.UsageError(
            f"{request.node.nodeid} gets {DATABASE_FIXTURE} only at run time; name it (or a fixture"
            " that needs it) among the test's arguments so the test runs on both backends"
        )
    if BACKEND == "postgres":
        # Emptied, not truncated: TRUNCATE gives each of the ~50 tables new files and syncs them
        # (1-2 s per test on a loaded 2-core box, most of the PostgreSQL run's extra time); a
        # DELETE of a test's few rows takes milliseconds. Sequences restart as TRUNCATE ...
        # RESTART IDENTITY would, so ids start at 1 in every test.
        engine = create_engine(_template)
        with engine.begin() as conn:
            conn.exec_driver_sql(_EMPTY_PG)
        engine.dispose()
        return _template
    path = tmp_path / "fleetdeck.db"
    shutil.copy(_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=SECRET, **CHEAP_ARGON2)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings, migrate_db=False)
    yield rt
    rt.db.dispose()


@pytest.fixture
def system() -> Actor:
    return system_actor("test")


@pytest.fixture
def admin(runtime: Runtime, system: Actor) -> Actor:
    user = runtime.services.users.create(system, "admin", "admin-password-1", Role.ADMIN)
    return Actor(user_id=user.id, username=user.username, role=Role.ADMIN, source="127.0.0.1", via="test")


# Wake-on-LAN: packets go to 127.0.0.1 only, where this socket captures them.
@pytest.fixture
def listener(runtime: Runtime, admin: Actor) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    runtime.services.settings.set(admin, "wol.broadcast_addresses", ["127.0.0.1"])
    runtime.services.settings.set(admin, "wol.port", sock.getsockname()[1])
    yield sock
    sock.close()


def computer(runtime: Runtime, admin: Actor, hostname: str, *macs: str) -> int:
    """A computer with these MAC addresses (the inventory its agent would report)."""
    return factories.computer(runtime.services, admin, hostname, macs=macs)
