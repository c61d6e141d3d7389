"""What every helpdesk service needs, written once.

Settings, the PostgreSQL pool and migration runner, JWT verification and role
dependencies, the `{"error": ...}` error shape, JSON logging with request ids, the
shared HTTP client, the registry client and the app factory with /health and /ready.
"""
