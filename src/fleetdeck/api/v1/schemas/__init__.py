"""Pydantic models for /api/v1 requests and responses, one module per resource."""
