"""Background jobs tied to an app's lifespan: started after start-up, stopped on shutdown,
restarted with backoff after a crash, and logged.

A job is a coroutine function of the app that runs until it is cancelled (a loop: the
registry's health checks, S4's outbox relay, S6's delivery worker and its LISTEN connection).
If it raises, the error is logged with its traceback and the job starts again after a backoff
that doubles up to `max_backoff` (and starts over once a run lasted a minute), so a bug or a
database outage never ends the job for good, nor spins the CPU. Returning is treated like a
crash: a job is meant to run for the app's whole life.

    create_app(..., background_jobs=[BackgroundJob("outbox-relay", relay.run)])

`app.state.jobs[name]` is the running `JobRunner` (`restarts`, `last_error`: shown by tests and
`/health` where a service wants it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("helpdesk.jobs")

# Long enough that a job crashing at start-up backs off, short enough to recover promptly.
STABLE_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class BackgroundJob:
    name: str
    run: Callable[[Any], Awaitable[None]]  # called with the app
    initial_backoff: float = 0.5
    max_backoff: float = 30.0


class JobRunner:
    """One job's task and its restart loop."""

    def __init__(self, job: BackgroundJob, app: Any) -> None:
        self.job = job
        self.app = app
        self.restarts = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"job:{self.job.name}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _supervise(self) -> None:
        backoff = self.job.initial_backoff
        while True:
            started = time.monotonic()
            try:
                await self.job.run(self.app)
                self.last_error = "returned"
                logger.error("background job returned; restarting it", extra={"job": self.job.name})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a crash is logged and the job restarted
                self.last_error = repr(exc)
                logger.exception("background job crashed; restarting it", extra={"job": self.job.name})
            if time.monotonic() - started >= STABLE_AFTER_SECONDS:
                backoff = self.job.initial_backoff
            self.restarts += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.job.max_backoff)


async def start_jobs(app: Any, jobs: list[BackgroundJob] | tuple[BackgroundJob, ...]) -> dict[str, JobRunner]:
    runners: dict[str, JobRunner] = {}
    for job in jobs:
        if job.name in runners:
            raise ValueError(f"two background jobs are named {job.name!r}")
        runner = JobRunner(job, app)
        runner.start()
        runners[job.name] = runner
        logger.info("background job started", extra={"job": job.name})
    return runners


async def stop_jobs(runners: dict[str, JobRunner]) -> None:
    # Stopped in reverse, like a stack: a job started later may use one started earlier.
    for runner in reversed(list(runners.values())):
        await runner.stop()
