# syntax=docker/dockerfile:1
# The development mail catcher (helpdesk_fleet.sinks.mail: aiosmtpd, SMTP 1025, listing 8025)
# and its read-only web view (helpdesk_fleet.sinks.webview), for infra/docker-compose.yml.
# Built from the repository root like the services' images, and in the same shape (the
# isolated-install test replays this builder too). Development only: production has no sink.

# ---- builder: the fleet tooling and its locked dependencies into /app/.venv ------------------
FROM python:3.11-slim AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY common/pyproject.toml common/pyproject.toml
COPY infra/pyproject.toml infra/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package helpdesk-fleet
COPY common common
COPY infra/helpdesk_fleet infra/helpdesk_fleet
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package helpdesk-fleet

# ---- runtime: the virtualenv only, run by an unprivileged user ------------------------------
FROM python:3.11-slim
RUN groupadd --system --gid 10001 helpdesk \
    && useradd --system --uid 10001 --gid helpdesk --no-create-home --shell /usr/sbin/nologin helpdesk
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8025 \
    MAIL_SINK_SMTP_PORT=1025 \
    MAIL_SINK_DIR=/var/tmp/mail
WORKDIR /app
USER 10001:10001
EXPOSE 1025 8025
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/health', timeout=2)"]
CMD ["python", "-m", "helpdesk_fleet.sinks.mail"]
