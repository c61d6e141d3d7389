"""S6 notifications: a durable queue in PostgreSQL delivered by email, SMS and in-app."""
