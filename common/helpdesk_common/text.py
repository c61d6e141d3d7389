"""Free text from clients: what PostgreSQL can store and a reader expects, checked once.

Use as pydantic `AfterValidator`s on `str` fields (after `StringConstraints` trimmed and
measured them), so text that would fail in the driver (NUL, lone surrogates) is a 400 with
the field's name instead of a 500 further down.
"""

from __future__ import annotations

import re

from pydantic_core import PydanticCustomError

# Tab, newline and carriage return are how people write several lines; any other control
# character (NUL included, which PostgreSQL cannot store in text) has no place in prose.
_MULTILINE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# One line (a title, a name, a search): no control characters at all.
_SINGLE_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def storable_text(value: str) -> str:
    """Refuse lone surrogates (valid in JSON as "\\ud800", not in UTF-8, so not in PostgreSQL)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_text", "must be valid Unicode text") from None
    return value


def multiline_text(value: str) -> str:
    """Prose of one or more lines: no control characters but tab and line breaks; storable."""
    if _MULTILINE_CONTROL.search(value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters (tab and newline are fine)"
        )
    return storable_text(value)


def single_line_text(value: str) -> str:
    """One line (a name, a search box): no control characters at all (a NUL, a line break in
    a header-bound value); storable."""
    if _SINGLE_LINE_CONTROL.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return storable_text(value)
