"""The client's filename: metadata only, never part of a path, and echoed back safely.

`normalize_filename` keeps what a person would recognise (`Quarterly report.xlsx`, `日本語.txt`)
and drops what could mislead or break something: folders (`../../etc/passwd` -> `passwd`,
`C:\\Users\\me\\a.txt` -> `a.txt`), control and invisible formatting characters (NUL, CR/LF, the
right-to-left override that makes `exe.txt` read as `txt.exe`), surrounding blanks and dots;
it is NFC-normalised and capped at 255 characters, keeping the extension.

`content_disposition` builds `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<pct>`
(RFC 6266 / RFC 8187): the quoted fallback holds only printable ASCII without `"` or `\\`, the
extended form percent-encodes everything outside RFC 8187's attr-char, so no quote, semicolon,
CR/LF or non-ASCII character of a name can end the header or add a parameter.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_FILENAME_CHARS = 255
MAX_EXTENSION_CHARS = 16
FALLBACK_NAME = "attachment"
# RFC 8187 attr-char, minus ALPHA / DIGIT (which quote() never escapes)
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"


def _visible(char: str) -> bool:
    # Cc: controls (NUL, CR, LF, ESC, DEL...), Cf: invisible formatting (bidi overrides,
    # zero-width joiners), Cs/Co/Cn: surrogates, private use, unassigned. Zl/Zp are line and
    # paragraph separators, which end a line like CR/LF.
    return unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def normalize_filename(raw: str) -> str:
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    # Blanks of any kind (tab, CR, LF, no-break space) become spaces; other invisibles go.
    name = "".join(" " if char.isspace() else char if _visible(char) else "" for char in name)
    name = " ".join(name.split())  # and a run of them one space
    name = name.strip(" .")
    if not name:
        return FALLBACK_NAME
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= MAX_EXTENSION_CHARS:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name


def ascii_fallback(name: str) -> str:
    """The name for clients that ignore `filename*`: accents dropped (é -> e), anything else
    outside printable ASCII, and the quote and backslash, replaced by `_`."""
    decomposed = unicodedata.normalize("NFKD", name)
    out = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        out.append(char if " " <= char <= "~" and char not in '"\\' else "_")
    return "".join(out) or FALLBACK_NAME


def content_disposition(name: str) -> str:
    encoded = quote(name, safe=_ATTR_CHAR_SAFE, encoding="utf-8", errors="strict")
    return f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"
