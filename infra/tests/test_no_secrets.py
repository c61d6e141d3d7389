"""No real secret anywhere in the repository: every tracked file is scanned for private keys and
well-known token formats, and every configuration file (env files, YAML, Dockerfiles) for a
credential setting with a literal value that is not a refused development placeholder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from helpdesk_common.settings import PLACEHOLDER_MARKER, is_secret_setting

from .conftest import REPO_ROOT

# Formats that are a real credential wherever they appear.
TOKEN_FORMATS = {
    "a private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "an AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "a Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "a Stripe live key": re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}"),
}
CONFIG_SUFFIXES = (".env", ".env.example", ".yml", ".yaml", "Dockerfile", ".Dockerfile")
# KEY=value (env files, Dockerfile ENV) and KEY: value (YAML) with the key a credential's name.
# (Settings are upper case; camelCase Kubernetes fields such as automountServiceAccountToken are not.)
ASSIGNMENT = re.compile(r"^\s*(?:-\s*)?(?:ENV\s+)?([A-Z][A-Z0-9_]*)\s*[=:]\s*(\S.*?)\s*$")


def _tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    names = [n for n in listed.stdout.decode().split("\0") if n]
    return [REPO_ROOT / n for n in names if (REPO_ROOT / n).is_file() and "node_modules/" not in n]


def _allowed_value(value: str) -> bool:
    """What a credential may be set to in a committed file: nothing, a reference to the
    environment or another object, or a development placeholder the services refuse."""
    text = value.strip().strip("'\"")
    if not text or text.startswith(("${", "$", "{{")) or PLACEHOLDER_MARKER in text.lower():
        return True
    return text in ("null", "~", "[]", "{}") or text.endswith(":")  # a YAML mapping follows


def _config_file(path: Path) -> bool:
    return path.name.endswith(CONFIG_SUFFIXES) and "package-lock" not in path.name


def test_no_private_key_or_token_in_any_file() -> None:
    found = []
    for path in _tracked_files():
        try:
            text = path.read_text(errors="strict")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        for what, pattern in TOKEN_FORMATS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO_ROOT)}:{line}: {what}")
    assert not found, "credentials in the repository (generate test keys at run time instead):\n" + "\n".join(found)


def test_no_credential_setting_has_a_literal_value_in_a_config_file() -> None:
    found = []
    for path in _tracked_files():
        if not _config_file(path):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            match = ASSIGNMENT.match(line)
            if match and is_secret_setting(match.group(1)) and not _allowed_value(match.group(2)):
                # DB_URL-like values: only the password part is a secret.
                password = re.search(r"://[^:/@]+:([^@]*)@", match.group(2))
                if password is not None and _allowed_value(password.group(1)):
                    continue
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {match.group(1)}")
    assert not found, "literal credentials (take them from the environment or a Secret):\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    header = "-----BEGIN " + "PRIVATE KEY-----"  # split, or this file would be found
    assert TOKEN_FORMATS["a private key"].search(f"{header}\nMIIE...")
    for line, flagged in [
        ("JWT_SECRET=0b7cf2d1e9a84f6b", True),
        ("  SMTP_PASSWORD: hunter2-is-real", True),
        ("JWT_SECRET: ${JWT_SECRET:-dev-secret-change-me}", False),
        ("DB_URL: postgresql://u:${POSTGRES_PASSWORD}@db/x", False),
        ("DB_URL=postgresql://u:realpass@db/x", True),
        ("TOKEN_STATE_POLL_SECONDS=2.0", False),
    ]:
        match = ASSIGNMENT.match(line)
        assert match is not None, line
        value_ok = _allowed_value(match.group(2))
        password = re.search(r"://[^:/@]+:([^@]*)@", match.group(2))
        if password is not None:
            value_ok = _allowed_value(password.group(1))
        assert (is_secret_setting(match.group(1)) and not value_ok) is flagged, line


def test_the_kubernetes_secret_placeholders_parse_as_yaml() -> None:
    secret = yaml.safe_load((REPO_ROOT / "infra" / "k8s" / "base" / "secrets.yaml").read_text())
    assert all(PLACEHOLDER_MARKER in v for v in secret["stringData"].values())
