"""Transports: the agent endpoint, the own REST API (v1) and the dialects. They only translate."""
