"""`make up`: the whole fleet on one machine, with an embedded PostgreSQL when DB_URL is unset.

Why a small supervisor of our own rather than honcho or supervisord: it has to start the
embedded database first, then the local mail and SMS sinks S6 delivers to (dev tooling,
`helpdesk_fleet.sinks`), start the services in dependency order and wait for each one's
/ready (neither tool knows readiness), restart a crashed service with backoff (honcho
stops everything instead), and stop the database last. That is ~100 lines on top of
`process.py`, which the system tests and the benchmark use as well.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from helpdesk_fleet.postgres import ensure_database, start_embedded
from helpdesk_fleet.process import (
    MAIL_SINK_SMTP_PORT,
    SINKS,
    ServiceProcess,
    fleet_environment,
    installed_services,
    sink_environment,
)
from helpdesk_fleet.webclient import WEBCLIENT

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("HELPDESK_DATA_DIR", REPO_ROOT / ".data"))
RESTART_BACKOFF_MAX = 30.0


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _say(message: str) -> None:
    print(f"[make up] {message}", flush=True)


def _database_url() -> str:
    explicit = os.environ.get("DB_URL")
    if explicit:
        _say("using the PostgreSQL in DB_URL")
        return explicit
    _say(f"DB_URL is unset: starting the embedded PostgreSQL (data in {DATA_DIR / 'postgres'})")
    admin_dsn = start_embedded(DATA_DIR / "postgres", stop_at_exit=True)
    return asyncio.run(ensure_database(admin_dsn, "ticketdb"))


def _webclient(dist: Path | None, gateway_port: int) -> ServiceProcess | None:
    """The built web client on WEBCLIENT_PORT (5173), calling the gateway, when it was built."""
    if dist is None:
        return None
    if not (dist / "index.html").is_file():
        _say(f"no built web client in {dist}: not serving it (build it with `make webclient`)")
        return None
    port = int(os.environ.get(WEBCLIENT.port_env, WEBCLIENT.port))
    # The browser calls the gateway by the name it is published under (the CORS origin's host).
    env = {"WEBCLIENT_DIST": str(dist), "API_BASE_URL": f"http://localhost:{gateway_port}"}
    return ServiceProcess(spec=WEBCLIENT, port=port, env=env)


def run(webclient_dist: Path | None = None) -> int:
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    specs = installed_services()
    ports = {s.name: int(os.environ.get(s.port_env, s.port)) for s in specs}
    sink_ports = {s.name: int(os.environ.get(s.port_env, s.port)) for s in SINKS}
    smtp_port = int(os.environ.get("MAIL_SINK_SMTP_PORT", MAIL_SINK_SMTP_PORT))
    processes: list[ServiceProcess] = []
    try:
        db_url = _database_url()
        client = _webclient(webclient_dist, ports["gateway"])
        wiring = sink_environment(smtp_port=smtp_port, sms_port=sink_ports["sms-sink"], data_dir=DATA_DIR)
        # S5's files beside the embedded database (HELPDESK_DATA_DIR), unless MEDIA_DIR says otherwise.
        wiring["MEDIA_DIR"] = str(DATA_DIR / "media")
        if client is not None:
            # The gateway allows the client's origin, wherever WEBCLIENT_PORT put it.
            wiring["CORS_ORIGINS"] = f"http://localhost:{client.port}"
        # What the user set wins: `SMTP_HOST=smtp.example.com make up` sends real mail (and
        # takes none of the sink's SMTP_* settings).
        own_smtp = "SMTP_HOST" in os.environ
        wiring = {k: v for k, v in wiring.items() if k not in os.environ and not (own_smtp and k.startswith("SMTP_"))}
        env = fleet_environment(db_url=db_url, registry_port=ports["s3-registry"], ports=ports, extra=wiring)
        sinks = [ServiceProcess(spec=s, port=sink_ports[s.name], env=env) for s in SINKS]
        services = [ServiceProcess(spec=s, port=ports[s.name], env=env) for s in specs]
        processes = sinks + services
        registry, gateway = services[0], services[-1]
        groups = [sinks, [registry], services[1:-1], [gateway]]
        if client is not None:
            processes.append(client)  # stopped first, restarted like the others
            groups.append([client])
        for group in groups:
            for p in group:
                p.start()
            for p in group:
                p.wait_ready(timeout=60)
        _say("the fleet is ready:")
        for p in services:
            _say(f"  {p.spec.name:<18} {p.url}   (docs: {p.url}/docs)")
        _say(
            f"  {'mail-sink':<18} {sinks[0].url}/messages   (SMTP 127.0.0.1:{smtp_port}, files in {DATA_DIR / 'mail'})"
        )
        _say(f"  {'sms-sink':<18} {sinks[1].url}/messages")
        _say(f"API: http://localhost:{gateway.port}   Ctrl-C stops everything")
        if client is not None:
            _say(f"web client: http://localhost:{client.port}")
        _supervise(processes)
    except _Stop as stop:
        _say(f"{stop}: stopping")
    finally:
        # Reverse order: the gateway stops taking requests first, the registry and the sinks last.
        for p in reversed(processes):
            p.stop()
        _say("stopped")
    return 0  # the embedded PostgreSQL is stopped by pgserver's exit hook


def _supervise(processes: list[ServiceProcess]) -> None:
    next_start: dict[str, float] = {}
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        for p in processes:
            if p.is_running():
                continue
            name = p.spec.name
            if name not in next_start:
                delay = min(2.0**p.restarts, RESTART_BACKOFF_MAX)
                code = p.proc.returncode if p.proc else None
                # granian's worker outlives a killed supervisor process and would keep the
                # port; stop() kills what is left of the process group.
                p.stop()
                _say(f"{name} exited (code {code}); restarting in {delay:.0f}s")
                next_start[name] = now + delay
            elif now >= next_start[name]:
                del next_start[name]
                p.restarts += 1
                p.start()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m helpdesk_fleet", description="Run the whole fleet.")
    parser.add_argument("command", nargs="?", choices=["up"], default="up")
    parser.add_argument(
        "--webclient", type=Path, metavar="DIST", help="also serve this built web client (webclient/dist)"
    )
    arguments = parser.parse_args(sys.argv[1:])
    raise SystemExit(run(arguments.webclient))
