"""`make bench`'s S5 part: 20 concurrent 10 MiB uploads and downloads through the gateway, and
where an 11 MiB upload is cut off.

Prints MiB/s and, for S5 and the gateway, how far their resident memory rose above idle
(target: < 30 MiB each): the peak (VmHWM) is reset through /proc/<pid>/clear_refs before each
run, so it is the peak of that run alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from helpdesk_fleet import media_samples
from helpdesk_fleet.fleet import Fleet

MIB = 1024 * 1024
CONCURRENCY = 20
TARGET_RSS_GROWTH_MIB = 30
BOUNDARY = "bench-boundary"


@dataclass
class MediaRun:
    scenario: str
    files: int
    mib_per_second: float
    seconds: float
    rss_growth_mib: dict[str, float]
    errors: int


def _group(pgid: int) -> list[Path]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                found.append(stat.parent)
        except (OSError, IndexError, ValueError):
            continue
    return found


def _status_kib(proc: Path, field: str) -> int:
    for line in (proc / "status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


class RssWatch:
    """RSS above idle of each watched service's process group during one run."""

    def __init__(self, fleet: Fleet, names: tuple[str, ...]) -> None:
        self.groups = {name: fleet.processes[name].proc.pid for name in names if fleet.processes[name].proc}  # type: ignore[union-attr]
        self.idle: dict[str, int] = {}

    def start(self) -> None:
        for name, pgid in self.groups.items():
            procs = _group(pgid)
            self.idle[name] = sum(_status_kib(p, "VmRSS:") for p in procs)
            for proc in procs:
                (proc / "clear_refs").write_text("5")  # resets VmHWM to the current RSS

    def growth_mib(self) -> dict[str, float]:
        return {
            name: (sum(_status_kib(p, "VmHWM:") for p in _group(pgid)) - self.idle[name]) / 1024
            for name, pgid in self.groups.items()
        }


def _upload_body(ticket_id: int, data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="ticket_id"\r\n\r\n{ticket_id}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _bytes_read_of_last_refusal(log: Path | None) -> int | None:
    if log is None:
        return None
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"upload refused: too large"' in line:
            value: int = json.loads(line)["bytes_read"]
            return value
    return None


async def _run(fleet: Fleet) -> dict[str, Any]:
    owner = fleet.new_account("user")
    headers = {"Authorization": f"Bearer {owner.token}"}
    data = media_samples.pdf(padding=10 * MIB - 2048)
    assert len(data) <= 10 * MIB
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    timeout = httpx.Timeout(120)
    watch = RssWatch(fleet, ("s5-media", "gateway"))
    runs: list[MediaRun] = []
    async with httpx.AsyncClient(base_url=fleet.gateway_url, headers=headers, limits=limits, timeout=timeout) as c:
        tickets = []
        for _ in range(CONCURRENCY):
            created = await c.post("/tickets", json={"title": "bench", "description": "d", "category": "bug"})
            tickets.append(created.json()["id"])
        bodies = [_upload_body(t, data) for t in tickets]
        content_type = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

        await asyncio.sleep(1)  # let the services settle to idle before the baseline
        watch.start()
        started = time.perf_counter()
        answers = await asyncio.gather(*(c.post("/media/upload", content=b, headers=content_type) for b in bodies))
        seconds = time.perf_counter() - started
        ids = [a.json()["id"] for a in answers if a.status_code == 201]
        runs.append(
            MediaRun("20 x 10 MiB uploads via gateway", len(ids), len(ids) * len(data) / MIB / seconds, seconds,
                     watch.growth_mib(), sum(a.status_code != 201 for a in answers))
        )  # fmt: skip

        async def download(file_id: int) -> int:
            size = 0
            async with c.stream("GET", f"/media/{file_id}") as response:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
            return size if response.status_code == 200 else -1

        await asyncio.sleep(1)
        watch.start()
        started = time.perf_counter()
        sizes = await asyncio.gather(*(download(i) for i in ids))
        seconds = time.perf_counter() - started
        runs.append(
            MediaRun("20 x 10 MiB downloads via gateway", len(sizes), sum(max(s, 0) for s in sizes) / MIB / seconds,
                     seconds, watch.growth_mib(), sum(s != len(data) for s in sizes))
        )  # fmt: skip

    # 11 MiB: with a Content-Length the gateway refuses it unread; sent chunked straight to S5,
    # S5 cuts it off itself, and logs how much it had read.
    big = _upload_body(tickets[0], b"a" * (11 * MIB))
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as c:
        try:
            declared: int | str = (
                await c.post(f"{fleet.gateway_url}/media/upload", content=big, headers=content_type)
            ).status_code
        except httpx.HTTPError as exc:
            # Refused on its head, the rest unread: a client still sending may see the close first.
            declared = f"connection closed while sending ({type(exc).__name__})"

        async def pieces() -> Any:
            for start in range(0, len(big), 64 * 1024):
                yield big[start : start + 64 * 1024]

        try:
            chunked = (await c.post(f"{fleet.processes['s5-media'].url}/upload", content=pieces(),
                                    headers=content_type)).status_code  # fmt: skip
        except httpx.HTTPError as exc:
            chunked = f"connection cut ({type(exc).__name__})"  # type: ignore[assignment]
    s5_log = fleet.processes["s5-media"].log_path
    refusal = {
        "via_gateway_with_content_length": declared,
        "chunked_to_s5": chunked,
        "s5_bytes_read_before_413": _bytes_read_of_last_refusal(s5_log),
    }
    return {"runs": [asdict(r) for r in runs], "oversize": refusal}


def run_media(fleet: Fleet) -> dict[str, Any]:
    result = asyncio.run(_run(fleet))
    print()
    print(f"{'media scenario':<38}{'MiB/s':>8}{'seconds':>9}{'errors':>8}   RSS growth above idle (MiB)")
    for run in result["runs"]:
        growth = ", ".join(
            f"{name} {mib:.1f}{'' if mib < TARGET_RSS_GROWTH_MIB else ' MISSED'}"
            for name, mib in run["rss_growth_mib"].items()
        )
        print(f"{run['scenario']:<38}{run['mib_per_second']:8.1f}{run['seconds']:9.2f}{run['errors']:8d}   {growth}")
    oversize = result["oversize"]
    print(
        f"11 MiB upload: via gateway with Content-Length {oversize['via_gateway_with_content_length']} (unread); "
        f"chunked to S5 {oversize['chunked_to_s5']} after {oversize['s5_bytes_read_before_413']} bytes read "
        f"(limit {10 * MIB} + the multipart envelope)"
    )
    return result
