"""End users (people who use computers rather than manage them), their invitations, the
computers assigned to them, and comments people leave on computers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from fleetdeck.storage.tables.base import Base, BigId


class EndUser(Base):
    """What an end user has besides their account (``users`` row, role ``end_user``, the
    e-mail address as user name): their names and whether they must use a second factor."""

    __tablename__ = "end_users"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    two_factor: Mapped[bool] = mapped_column(default=False)
    invited_by: Mapped[str] = mapped_column(String(150), default="")


class Invitation(Base):
    """A pending invitation of an end user by e-mail. The link's random token is stored only as
    a keyed hash (like API tokens): a copy of the database lets nobody accept it. Accepting it
    makes the account and deletes the row."""

    __tablename__ = "invitations"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never given again

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(150), unique=True)  # lower case
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    two_factor: Mapped[bool] = mapped_column(default=False)
    invited_by: Mapped[str] = mapped_column(String(150), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ComputerAssignment(Base):
    """A computer assigned to a user (many to many): an end user sees and reaches only these."""

    __tablename__ = "computer_assignments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    computer_id: Mapped[int] = mapped_column(
        ForeignKey("computers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    assigned_at: Mapped[datetime]


class ComputerComment(Base):
    """A comment on a computer, kept with its author and time (the newest is the one shown)."""

    __tablename__ = "computer_comments"
    __table_args__ = (
        Index("ix_computer_comments_computer", "computer_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    computer_id: Mapped[int] = mapped_column(ForeignKey("computers.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(250))
    author: Mapped[str] = mapped_column(String(150))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
