"""A multipart/form-data body read as it arrives: parts one by one, a file part as a stream.

    reader = FormReader(paced(request.stream(), ...), boundary, max_body_bytes=...)
    while (part := await reader.next_part()) is not None:
        if isinstance(part, FieldPart): ...            # a small field, its value read whole
        else: async for chunk in reader.file_data(): ...  # a file, one piece at a time

python-multipart's callback parser does the parsing (the parser Starlette itself uses); each
chunk of the body is fed to it as it arrives and the events it reports are handed out in
order. Nothing but the current chunk and the small fields is held in memory. The body is
counted as it streams: past `max_body_bytes` the reader raises BodyTooLarge at once, without
reading the rest. `paced` cuts off a client that sends too slowly (slowloris).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 1024  # ticket_id and any other small field
MAX_PARTS = 16
MAX_HEADER_BYTES = 4096


class FormError(Exception):
    """The body is not a well-formed multipart/form-data body we can use (a 400)."""


class BodyTooLarge(Exception):
    def __init__(self, read: int) -> None:
        super().__init__(f"body over the limit after {read} bytes")
        self.read = read


class TooSlow(Exception):
    def __init__(self, read: int, elapsed: float) -> None:
        super().__init__(f"{read} bytes in {elapsed:.1f} s")
        self.read = read
        self.elapsed = elapsed


@dataclass(frozen=True, slots=True)
class FieldPart:
    name: str
    value: bytes


@dataclass(frozen=True, slots=True)
class FilePart:
    name: str
    filename: str  # as the client sent it (decoded, not yet normalised)
    content_type: str | None


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary of a multipart/form-data Content-Type, or None for any other type."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    return boundary if boundary and len(boundary) <= 70 else None  # RFC 2046: 1-70 characters


async def paced(
    chunks: AsyncIterator[bytes], *, min_bytes_per_second: float, grace_seconds: float, idle_seconds: float
) -> AsyncIterator[bytes]:
    """`chunks`, but TooSlow when the next one is late: after `grace_seconds` the average rate must
    stay at `min_bytes_per_second`, and no wait may last longer than `idle_seconds`."""
    started = time.monotonic()
    read = 0
    iterator = aiter(chunks)
    while True:
        elapsed = time.monotonic() - started
        # The moment the average would drop below the minimum, unless more arrives before it.
        behind_at = grace_seconds + read / min_bytes_per_second
        wait = max(min(idle_seconds, behind_at - elapsed), 0.001)
        try:
            chunk = await asyncio.wait_for(anext(iterator), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise TooSlow(read, time.monotonic() - started) from None
        read += len(chunk)
        yield chunk


class FormReader:
    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes, *, max_body_bytes: int) -> None:
        self._chunks = chunks
        self._max_body = max_body_bytes
        self.bytes_read = 0
        # (kind, data): ("headers", the part's headers), ("data", bytes), ("end", None), ("done", None).
        # One write() may parse several parts, so each event carries its own data.
        self._events: deque[tuple[str, Any]] = deque()
        self._field = bytearray()
        self._value = bytearray()
        self._headers: list[tuple[bytes, bytes]] = []
        self._parts = 0
        self._exhausted = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
            max_header_size=MAX_HEADER_BYTES,
        )

    # --- parser callbacks (synchronous, during parser.write) ---------------------------------

    def _on_part_begin(self) -> None:
        self._headers = []
        self._parts += 1

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._field).strip().lower(), bytes(self._value).strip()))
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        self._events.append(("headers", dict(self._headers)))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        # The chunks in the middle of a file part are part data whole (start 0, end its
        # length): handed on as they are, not copied. A slice of bytes is a copy, and with
        # granian's chunks of up to ~400 KiB it doubled what each upload held in memory.
        self._events.append(("data", data if start == 0 and end == len(data) else data[start:end]))

    def _on_part_end(self) -> None:
        self._events.append(("end", None))

    def _on_end(self) -> None:
        self._events.append(("done", None))

    # --- reading ---------------------------------------------------------------------------------

    async def _pull(self) -> bool:
        """Feed the next chunk of the body to the parser; False once the body has ended."""
        if self._exhausted:
            return False
        chunk = await anext(self._chunks, None)
        if chunk is None:
            self._exhausted = True
            return False
        self.bytes_read += len(chunk)
        if self.bytes_read > self._max_body:
            raise BodyTooLarge(self.bytes_read)
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise FormError("The multipart body is malformed.") from exc
        if self._parts > MAX_PARTS:
            raise FormError(f"A form may have at most {MAX_PARTS} parts.")
        return True

    async def _next_event(self) -> tuple[str, Any]:
        while not self._events:
            if not await self._pull():
                raise FormError("The multipart body ended before its closing boundary.")
        return self._events.popleft()

    @staticmethod
    def _describe_part(headers: dict[bytes, bytes]) -> FieldPart | FilePart:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b"").decode("latin-1"))
        name = disposition.get(b"name")
        if name is None:
            raise FormError("A form part has no name (Content-Disposition: form-data; name=...).")
        # Browsers send field and file names as UTF-8 (the HTML standard); parse_options_header
        # decoded the header as latin-1, so its bytes are the original ones.
        field_name = name.decode("utf-8", errors="replace")
        filename = disposition.get(b"filename")
        if filename is None:
            return FieldPart(field_name, b"")
        content_type = headers.get(b"content-type")
        return FilePart(
            field_name,
            filename.decode("utf-8", errors="replace"),
            content_type.decode("latin-1") if content_type is not None else None,
        )

    async def next_part(self) -> FieldPart | FilePart | None:
        """The next part (a field with its whole value, or a file whose data follows), or None
        after the closing boundary. Data of a file part not read with file_data() is skipped."""
        while True:
            kind, data = await self._next_event()
            if kind == "done":
                return None
            if kind != "headers":
                continue  # the rest of a part nobody asked for
            part = self._describe_part(data)
            if isinstance(part, FilePart):
                return part
            value = bytearray()
            while (event := await self._next_event())[0] == "data":
                value += event[1]
                if len(value) > MAX_FIELD_BYTES:
                    raise FormError(f"The form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes.")
            return FieldPart(part.name, bytes(value))

    async def file_data(self) -> AsyncIterator[bytes]:
        """The data of the file part just returned by next_part(), as it arrives."""
        while True:
            kind, data = await self._next_event()
            if kind == "data":
                if data:
                    yield data
                continue
            return  # "end" of this part
