"""Gateway: the public entry point, a streaming reverse proxy to the helpdesk services."""
