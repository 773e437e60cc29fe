"""Importing this package registers every i-doit method on ``registry.METHODS``, one module
per concept: ``idoit.*`` (session, version, constants, search), objects and object types,
categories, dialog tables, the logbook, relations, reports, and the methods not built yet
(``missing``)."""

from fleetdeck.api.dialects.idoit.methods import (
    categories,
    dialogs,
    general,
    logbook,
    missing,
    objects,
    relations,
    reports,
)
from fleetdeck.api.dialects.idoit.registry import METHODS

__all__ = [
    "METHODS",
    "categories",
    "dialogs",
    "general",
    "logbook",
    "missing",
    "objects",
    "relations",
    "reports",
]
