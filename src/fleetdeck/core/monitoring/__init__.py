"""Measurements agents send (CPU, memory, IO, network, mountpoints, top processes): intake,
reads, graph downsampling and retention (``service.py``); the settings in ``settings.py``."""
