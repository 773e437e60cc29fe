"""Serialising transactions that decide from what they read ("check, then act").

A transaction that reads whether something exists and then creates it is only correct when no
other transaction can do the same in between. The two databases get there differently:

* SQLite: every writing transaction starts with ``BEGIN IMMEDIATE`` (``db.py``), so there is
  one writer at a time and its reads already see everything committed before it. Nothing to do.
* PostgreSQL (READ COMMITTED): two transactions can both read "not there" and both insert. A
  transaction-level advisory lock taken *before* the reads makes the second wait until the
  first commits; its later statements then see the first one's rows. The lock is released at
  commit or rollback, so a crash cannot leave it held, and it does not block anything that does
  not ask for it (agents' presence updates on the same rows, for example), unlike
  ``SELECT ... FOR UPDATE`` on a shared row.
"""

from __future__ import annotations

import enum

from sqlalchemy import text
from sqlalchemy.orm import Session


class Serial(enum.IntEnum):
    """One advisory lock key per kind of check-then-act (the first of PostgreSQL's two keys)."""

    PACKAGE_JOBS = 0x6664_0001  # creating package install/uninstall jobs ("fd" + 1)
    PACKAGE_VERSIONS = 0x6664_0002  # create-or-update of a package by family key and versions
    COMPUTER_NAMES = 0x6664_0003  # creating a computer, and create-or-update by its qualified name
    USER_NAMES = 0x6664_0004  # create-or-keep of a user account by name
    GROUP_KEYS = 0x6664_0005  # create-or-update of a group by its key
    PACKAGE_PROPERTIES = 0x6664_0006  # writing a package property (a merge reads it first)
    CONFIG_ENTRIES = 0x6664_0007  # writing a config entry (a merge reads it first)
    GROUP_NAMES = 0x6664_0008  # a group's name among its siblings (and a new group's free key)
    REPORTED_AUDIT = 0x6664_0131  # create-or-update of reported audit rows by kind and ident


def serialize(session: Session, key: Serial) -> None:
    """Wait until no other transaction holds ``key``, and hold it until this one ends.

    Call it first in the transaction, before the reads the decision depends on."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(key)})
