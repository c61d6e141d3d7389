"""Local tooling: the embedded PostgreSQL, the process supervisor behind `make up`, and pytest fixtures."""
