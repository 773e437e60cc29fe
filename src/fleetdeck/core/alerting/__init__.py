"""Alerting: rules over measurements, problems, notification templates and their log."""
