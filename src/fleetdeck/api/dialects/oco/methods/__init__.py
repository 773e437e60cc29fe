"""Importing this package registers every OCO method on ``registry.METHODS``, one module per
noun (computers, packages, jobs, rules, reports, info)."""

from fleetdeck.api.dialects.oco.methods import computers, info, jobs, packages, reports, rules
from fleetdeck.api.dialects.oco.registry import METHODS

__all__ = ["METHODS", "computers", "info", "jobs", "packages", "reports", "rules"]
