"""The web client's copy of the API's vocabulary and input limits (webclient/src/lib/vocabulary.ts)
is the services' own: the same statuses, priorities, categories and roles, in the same order,
and the same length limits, so the client's validation refuses exactly what the API refuses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from helpdesk_common.pagination import MAX_LIMIT
from helpdesk_common.security import Role
from helpdesk_common.vocabulary import CATEGORIES, DEFAULT_PRIORITY, PRIORITIES, STATUSES
from s1_auth.schemas import EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN
from s2_tickets.schemas import DESCRIPTION_MAX, SEARCH_MAX, TITLE_MAX
from s4_workflow.service import ALLOWED_MOVES
from s8_feedback.schemas import COMMENT_MAX

VOCABULARY = Path(__file__).resolve().parents[2] / "webclient" / "src" / "lib" / "vocabulary.ts"


def _source() -> str:
    return VOCABULARY.read_text()


def _list(name: str) -> tuple[str, ...]:
    match = re.search(rf"export const {name} = \[(.*?)\] as const;", _source(), re.S)
    assert match, f"{name} is not an `as const` list in {VOCABULARY.name}"
    return tuple(re.findall(r"'([^']*)'", match.group(1)))


def _number(name: str) -> int:
    match = re.search(rf"export const {name} = ([\d_]+);", _source())
    assert match, f"{name} is not a number constant in {VOCABULARY.name}"
    return int(match.group(1).replace("_", ""))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("STATUSES", STATUSES), ("PRIORITIES", PRIORITIES), ("CATEGORIES", CATEGORIES), ("ROLES", get_args(Role))],
)
def test_the_vocabulary_is_the_services_own(name: str, expected: tuple[str, ...]) -> None:
    assert _list(name) == tuple(expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TITLE_MAX", TITLE_MAX),
        ("DESCRIPTION_MAX", DESCRIPTION_MAX),
        ("SEARCH_MAX", SEARCH_MAX),
        ("PASSWORD_MIN", PASSWORD_MIN),
        ("PASSWORD_MAX", PASSWORD_MAX),
        ("EMAIL_MAX", EMAIL_MAX),
        ("NAME_MAX", NAME_MAX),
        ("RATING_COMMENT_MAX", COMMENT_MAX),
    ],
)
def test_the_input_limits_are_the_services_own(name: str, expected: int) -> None:
    assert _number(name) == expected


def test_the_default_priority_and_the_page_size_fit_the_api() -> None:
    match = re.search(r"export const DEFAULT_PRIORITY: Priority = '(\w+)';", _source())
    assert match and match.group(1) == DEFAULT_PRIORITY
    assert 1 <= _number("PAGE_SIZE") <= MAX_LIMIT


def test_the_status_moves_are_s4s_own() -> None:
    match = re.search(r"export const STATUS_MOVES: [^=]+= \{(.*?)\n\};", _source(), re.S)
    assert match, f"STATUS_MOVES is not an object literal in {VOCABULARY.name}"
    moves = {
        status: tuple(re.findall(r"'([^']*)'", targets))
        for status, targets in re.findall(r"^\s*(\w+): \[(.*?)\],", match.group(1), re.M)
    }
    assert moves == {status: tuple(targets) for status, targets in ALLOWED_MOVES.items()}
