"""The README's curl walkthrough, run as written against a fresh fleet.

Every ```bash block of the README's "Walkthrough (curl)" section runs, in order, in one bash
process (so `$TOKEN` carries over), with only `http://localhost:8080` pointed at this test's
gateway and `http://127.0.0.1:8025` at its mail sink. Each answer must match the ```json block
printed after its command: the same keys, the same values, except the ones that differ by
nature (the tokens, the timestamps, and what the mail sink names by the moment a message
arrived), which must have the right form. The fleet has a database of its own and is started
with the admin the README's `make up` line names, so the admin is user 1 and the README's user
is user 2.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpdesk_fleet.fleet import Fleet
from tests.conftest import system_fleet

pytestmark = pytest.mark.xdist_group("walkthrough")

README = Path(__file__).resolve().parents[1] / "README.md"
SEPARATOR = "@@@ next command @@@"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
JWT = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+$")
# The mail sink's listing: what it names by the moment a message arrived, and where it keeps it.
SINK_MESSAGE_ID = r"\d{8}T\d{6}\.\d{6}Z-\d{6}"
MAIL_FORMS = {
    "id": re.compile(SINK_MESSAGE_ID),
    "date": re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}"),
    "message_id": re.compile(r"<notification-\d+\.\d+@[\w.-]+>"),
    "received_at": TIMESTAMP,
    "file": re.compile(rf"/.+/mail/{SINK_MESSAGE_ID}\.eml"),
}


def walkthrough_section() -> str:
    return README.read_text().split("## Walkthrough (curl)", 1)[1].split("\n## ", 1)[0]


def walkthrough_admin() -> tuple[str, str]:
    """The (email, password) of the admin the walkthrough's `make up` line starts the fleet with."""
    found = re.search(r"ADMIN_EMAIL=(\S+) ADMIN_PASSWORD='([^']+)' make up", walkthrough_section())
    assert found, "the walkthrough must say how to start make up with an admin"
    return found[1], found[2]


def walkthrough_steps() -> list[tuple[str, Any | None]]:
    """(bash command, the JSON answer shown after it or None) for each step, in order."""
    section = walkthrough_section()
    blocks = re.findall(r"```(bash|json)\n(.*?)```", section, flags=re.S)
    steps: list[tuple[str, Any | None]] = []
    for kind, body in blocks:
        if kind == "bash":
            steps.append((body, None))
        else:
            assert steps and steps[-1][1] is None, "a json block must follow a bash block"
            steps[-1] = (steps[-1][0], json.loads(body))
    return steps


def assert_matches(expected: Any, actual: Any, where: str = "$") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key, value in expected.items():
            if key == "token":
                assert JWT.match(actual[key]), f"{where}.token: {actual[key]!r}"
            elif key == "refresh_token":  # opaque and random: its shape, not its value
                assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", actual[key]), f"{where}.refresh_token: {actual[key]!r}"
            elif key in ("created_at", "updated_at", "last_activity_at"):
                assert TIMESTAMP.match(actual[key]), f"{where}.{key}: {actual[key]!r}"
            elif key in MAIL_FORMS and isinstance(value, str):  # a mail's; a user's or ticket's id is a number
                assert MAIL_FORMS[key].fullmatch(actual[key]), f"{where}.{key}: {actual[key]!r}"
            else:
                assert_matches(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        if where.endswith(".messages"):
            # The sink lists mail in the order it arrived, and S6 sends a ticket's notices
            # concurrently: the assignment's can arrive after a status change's. Compared by subject.
            expected, actual = (sorted(mail, key=lambda m: str(m["subject"])) for mail in (expected, actual))
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(e, a, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def fresh_fleet(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    log_dir = tmp_path_factory.mktemp("walkthrough-logs")
    with system_fleet(pg_admin_dsn, log_dir, admin=walkthrough_admin()) as fleet:
        yield fleet


def test_the_readme_has_the_whole_walkthrough() -> None:
    commands = " ".join(command for command, _ in walkthrough_steps())
    for path in ("/health", "/auth/register", "/auth/login", "/tickets", "/tickets/1", "/auth/me"):
        assert f"http://localhost:8080{path}" in commands
    # The staff flow: the first admin promotes a staff user, who takes the ticket and resolves it.
    for path in ("/auth/users/3/role", "/workflow/assign/1", "/workflow/status/1"):
        assert f"http://localhost:8080{path}" in commands
    for status in ("in_progress", "resolved"):
        assert f'{{"status": "{status}"}}' in commands
    assert "http://127.0.0.1:8025/messages" in commands  # the mail the user got, in the local sink


def test_the_readme_walkthrough_works_as_written(fresh_fleet: Fleet) -> None:
    assert shutil.which("curl"), "the walkthrough needs curl (apt-get install curl)"
    steps = walkthrough_steps()
    script = f"\nprintf '\\n{SEPARATOR}\\n'\n".join(command for command, _ in steps)
    script = script.replace("http://localhost:8080", fresh_fleet.gateway_url)
    script = script.replace("http://127.0.0.1:8025", fresh_fleet.mail_sink_url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    outputs = result.stdout.split(f"\n{SEPARATOR}\n")
    assert len(outputs) == len(steps)
    for (command, expected), output in zip(steps, outputs, strict=True):
        if expected is None:
            assert output.strip() == "", f"{command}\nprinted {output!r}"
            continue
        assert_matches(expected, json.loads(output), where=command.splitlines()[0])
