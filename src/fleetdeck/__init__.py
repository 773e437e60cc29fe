"""fleetdeck: one endpoint-management server, one data model, five API dialects, one agent."""

__version__ = "0.1.0"
