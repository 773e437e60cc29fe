"""Polling agents: foreign agents that call the server over signed HTTP requests (OCO's agent,
served by the OCO dialect at ``/api-agent.php``) instead of holding a connection."""
