"""Shared building blocks: the envelopes, id and text types, and the error body."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints

T = TypeVar("T")

MAX_ID = 2**63 - 1  # BIGINT; larger numbers cannot name anything and would overflow SQLite
MAX_INT32 = 2**31 - 1
MAX_IDS = 10_000  # per request: keeps IN (...) lists below every database's parameter limit
MAX_EXPIRY_SEC = 10 * 366 * 24 * 3600


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# A string without NUL characters (PostgreSQL cannot store them); add Field(max_length=...) per use.
Str = Annotated[str, AfterValidator(_no_nul)]
Str255 = Annotated[str, AfterValidator(_no_nul), StringConstraints(max_length=255)]


# JSON numbers and booleans only: no "5" for 5, no "yes" for true.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="An id (1 to 2^63-1).")]
IdList = Annotated[list[Id], Field(max_length=MAX_IDS)]


class RequestModel(BaseModel):
    """Request bodies: no unknown fields (typos fail loudly); numbers and flags use Int, Bool, Id."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Data(BaseModel, Generic[T]):
    """``{"data": ...}``"""

    data: T


class ListMeta(BaseModel):
    count: int = Field(description="Number of matching items before paging.")


class DataList(BaseModel, Generic[T]):
    """``{"data": [...], "meta": {"count": N}}``"""

    data: list[T]
    meta: ListMeta


def data_list(items: list[T], total: int) -> DataList[T]:
    return DataList[T](data=items, meta=ListMeta(count=total))


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["computer 7 not found"])
    detail: dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, all in the error envelope."""
    return {code: {"model": ErrorEnvelope} for code in codes}
