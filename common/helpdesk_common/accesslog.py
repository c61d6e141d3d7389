"""Access lines, cheap: formatted by hand and written in batches (one per request, every service).

Formatting each line with python-json-logger and writing and flushing it at once (one
`write()` per request) measured ~130 us of CPU per request in the gateway (400 us with access
lines against 270 us without): the write releases the GIL, getting it back from granian's
threads under load is slow, and the LogRecord plus JSON formatter cost ~20 us more. Here:

- `AccessLog.write` builds the line directly as the same JSON the shared formatter produces
  (same keys, same order, `ts` in ISO 8601 UTC); RequestIdMiddleware and the gateway's proxy
  call it;
- every `helpdesk.access` line is kept in memory and written at most every `interval`
  seconds, or sooner once `max_bytes` have piled up, and at shutdown. Other log lines are
  untouched (written at once).

A crash can lose the last `interval` of access lines, never any other line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import TextIO

ACCESS_LOGGER = "helpdesk.access"

_dumps = json.dumps


class BufferedLineHandler(logging.Handler):
    """A StreamHandler that collects lines and writes them when flushed."""

    def __init__(self, stream: TextIO, *, max_bytes: int = 64 * 1024) -> None:
        super().__init__()
        self.stream = stream
        self.max_bytes = max_bytes
        self._lines: list[str] = []
        self._size = 0

    def add_line(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.max_bytes:
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)
            return
        self.add_line(line)

    def flush(self) -> None:
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        self._size = 0
        with contextlib.suppress(OSError, ValueError):  # a closed stdout at shutdown
            self.stream.write(text)
            self.stream.flush()


class AccessLog:
    """A service's access log: `write()` one line per request when enabled (create_app starts it)."""

    def __init__(self, service: str, *, enabled: bool, interval: float = 0.25) -> None:
        self.service_json = _dumps(service)
        self.wanted = enabled
        self.interval = interval
        self.handler: BufferedLineHandler | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.handler is not None

    def start(self) -> None:
        """Call after `configure_logging` (at start-up): takes the root handler's stream,
        formatter and filters, and moves the access logger onto a buffered copy of it."""
        logger = logging.getLogger(ACCESS_LOGGER)
        if not self.wanted or not logger.isEnabledFor(logging.INFO):
            return
        templates = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        if not templates:
            return  # logging not configured: no access lines
        template = templates[0]
        handler = BufferedLineHandler(template.stream)
        handler.setFormatter(template.formatter)
        for log_filter in template.filters:
            handler.addFilter(log_filter)
        logger.addHandler(handler)
        logger.propagate = False
        self.handler = handler
        self._task = asyncio.create_task(self._flush_periodically())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.handler is not None:
            self.handler.flush()
            logger = logging.getLogger(ACCESS_LOGGER)
            logger.removeHandler(self.handler)
            logger.propagate = True
            self.handler = None

    async def _flush_periodically(self) -> None:
        while self.handler is not None:
            await asyncio.sleep(self.interval)
            if self.handler is not None:
                self.handler.flush()

    def write(
        self, *, request_id: str, method: str, path: str, status: int, duration_ms: float, upstream: str | None = None
    ) -> None:
        """The line the shared JSON formatter would write; the gateway adds `upstream`."""
        handler = self.handler
        if handler is None:
            return
        upstream_field = "" if upstream is None else f'"upstream": {_dumps(upstream)}, '
        handler.add_line(
            '{"level": "INFO", "logger": "helpdesk.access", "message": "request", '
            f'"service": {self.service_json}, "request_id": {_dumps(request_id)}, '
            f'"method": {_dumps(method)}, "path": {_dumps(path)}, "status": {status}, '
            f'"duration_ms": {duration_ms}, {upstream_field}'
            f'"ts": "{datetime.now(UTC).isoformat()}"}}'
        )
