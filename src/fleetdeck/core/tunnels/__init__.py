"""Tunnels: a server port carried to an address a computer's agent reaches (``service.py``)."""
