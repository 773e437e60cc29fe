"""Engine construction for SQLite and PostgreSQL.

SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction:
with WAL, a deferred transaction that reads and then writes fails at once with
SQLITE_BUSY_SNAPSHOT when another writer committed in between, whereas an immediate one
simply waits its turn. Readers are never blocked in WAL mode, so this costs nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and pick our driver (psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 (in a 0700 directory when we make that too) before SQLite
    does with the process umask (0644): it holds password hashes and encrypted keys. SQLite gives
    its -wal and -shm files the main file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            _private_file(Path(path))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("fd_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    """The engine plus a session factory; built once in the composition root."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, readonly: bool = False) -> Session:
        session = self.sessions()
        if readonly:
            session.connection(execution_options={"fd_readonly": True})
        return session

    def dispose(self) -> None:
        self.engine.dispose()


def plain_rows(s: Session, stmt: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``stmt``'s rows as the driver's own tuples, fetched at once on the session's connection
    (its transaction): for long lists, where SQLAlchemy's ``Row`` per row costs as much as the
    database's work. No result processing happens, so the columns must be what the driver
    returns as they are (integers, text: e.g. ``tables.base.utc_text`` for a time), and the
    parameters plain integers and text."""
    return each_plain_row(s, stmt, list)


def each_plain_row(
    s: Session, stmt: Select[*tuple[Any, ...]], consume: Callable[[Iterator[tuple[Any, ...]]], T]
) -> T:
    """``consume``'s result over ``stmt``'s rows as the driver's tuples (as ``plain_rows``),
    handed over one by one as the driver makes them: a caller that turns half a million rows
    into something else keeps no list of them, and each tuple is freed as soon as it is used."""
    conn = s.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args: Any = tuple(params[k] for k in compiled.positiontup or ()) if compiled.positional else params
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        return consume(iter(cursor))
    finally:
        cursor.close()
