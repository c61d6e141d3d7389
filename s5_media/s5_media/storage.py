"""Where the bytes live, behind a small interface: a local directory now, an S3-compatible
bucket later (several replicas sharing one store).

    staged = await storage.put_stream(chunks)      # written aside, never visible under a key
    with staged.open_for_reading() as f: ...        # (in a thread) look at what arrived
    await staged.commit(key)                         # now, and only now, it exists under `key`
    await staged.discard()                           # or it is gone (idempotent; after commit a no-op)
    stream = await storage.open_stream(key)          # size + chunks, never the whole file at once
    await storage.delete(key)

An object exists under its key completely or not at all. `LocalStorage` writes a temporary file
in `<root>/.incoming/` (the same filesystem, so the move into place is an atomic rename) and
moves it into a sharded folder (`ab/cd/abcd....png`) on commit. A bucket would do the same with
a staging key and a server-side copy; `open_for_reading` would be a ranged-GET reader.

All file I/O runs in worker threads: a 10 MiB write or read never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

logger = logging.getLogger("helpdesk.media.storage")

READ_CHUNK_BYTES = 64 * 1024
INCOMING = ".incoming"
# Keys are ours (generated names), but they come back from the database: anything else is
# refused before it can become a path.
_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}\.[a-z0-9]{1,5}$")


class MissingObject(Exception):
    """No object is stored under that key."""


class InvalidKey(ValueError):
    """A key that `key_for` could not have made."""


def key_for(stored_name: str) -> str:
    """The key of a generated name (`<32 hex>.<ext>`): sharded by its first four hex digits, so
    no folder grows past 65,536 entries per 4 billion files."""
    key = f"{stored_name[:2]}/{stored_name[2:4]}/{stored_name}"
    if not _KEY.match(key):
        raise InvalidKey(stored_name)
    return key


def new_stored_name(extension: str) -> str:
    return f"{uuid.uuid4().hex}.{extension}"


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    modified: float  # seconds since the epoch


class StoredStream(Protocol):
    size: int

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class StagedObject(Protocol):
    """Bytes written aside: `commit(key)` makes them the object `key`, `discard()` drops them."""

    size: int

    def open_for_reading(self) -> BinaryIO:
        """A seekable binary file of what was written (blocking: call it in a thread)."""
        ...

    async def commit(self, key: str) -> None: ...

    async def discard(self) -> None: ...


class Storage(Protocol):
    async def put_stream(self, chunks: AsyncIterable[bytes]) -> StagedObject:
        """Write every chunk aside; if `chunks` raises (too large, too slow, client gone), what was
        written is removed and the exception goes on."""
        ...

    async def open_stream(self, key: str) -> StoredStream:
        """Raises MissingObject."""
        ...

    async def delete(self, key: str) -> bool:
        """True if something was removed."""
        ...

    async def list_objects(self) -> list[StoredObject]: ...

    async def list_staged(self) -> list[StoredObject]:
        """Objects written aside and neither committed nor discarded (keys are storage-specific)."""
        ...

    async def delete_staged(self, key: str) -> bool: ...

    async def check(self) -> None:
        """Raises when the store cannot be written (for /ready)."""
        ...


# --- the local directory ------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once its folder is synced.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStaged:
    __slots__ = ("_done", "path", "root", "size")

    def __init__(self, root: Path, path: Path, size: int) -> None:
        self.root = root
        self.path = path
        self.size = size
        self._done = False

    def open_for_reading(self) -> BinaryIO:
        return self.path.open("rb")

    def _move_into_place(self, key: str) -> None:
        final = self.root / key
        final.parent.mkdir(parents=True, exist_ok=True)
        # Atomic on one filesystem, which is why the temporary files live inside the store.
        os.replace(self.path, final)
        _fsync_dir(final.parent)

    async def commit(self, key: str) -> None:
        if not _KEY.match(key):
            raise InvalidKey(key)
        await asyncio.to_thread(self._move_into_place, key)
        self._done = True

    async def discard(self) -> None:
        if self._done:
            return
        self._done = True
        await asyncio.to_thread(self.path.unlink, True)


class LocalStream:
    __slots__ = ("_file", "size")

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self.size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self._file.read, READ_CHUNK_BYTES):
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._file.closed:
            await asyncio.to_thread(self._file.close)


def _open_sized(path: Path) -> tuple[BinaryIO, int]:
    file = path.open("rb")
    return file, os.fstat(file.fileno()).st_size


class LocalStorage:
    """Files under `root`, in sharded folders; temporary files in `root/.incoming`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.incoming = self.root / INCOMING

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.incoming.mkdir(exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise InvalidKey(key)
        return self.root / key

    async def put_stream(self, chunks: AsyncIterable[bytes]) -> LocalStaged:
        path = self.incoming / f"{uuid.uuid4().hex}.part"
        file = await asyncio.to_thread(path.open, "xb")
        size = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(file.write, chunk)
                size += len(chunk)
            await asyncio.to_thread(_flush_and_close, file)
        except BaseException:
            # Refused, cut off, cancelled (the client left): nothing stays behind. Shielded so a
            # cancellation cannot interrupt the clean-up itself.
            await asyncio.shield(asyncio.to_thread(_close_and_remove, file, path))
            raise
        return LocalStaged(self.root, path, size)

    async def open_stream(self, key: str) -> LocalStream:
        try:
            file, size = await asyncio.to_thread(_open_sized, self._path(key))
        except FileNotFoundError:
            raise MissingObject(key) from None
        return LocalStream(file, size)

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    def _walk(self, top: Path, *, staged: bool) -> list[StoredObject]:
        found: list[StoredObject] = []
        for folder, dirs, files in os.walk(top):
            here = Path(folder)
            if not staged and here == self.root:
                dirs[:] = [d for d in dirs if d != INCOMING]
            for name in files:
                path = here / name
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:
                    continue  # removed while we looked
                found.append(StoredObject(key=path.relative_to(top).as_posix(), modified=modified))
        return found

    async def list_objects(self) -> list[StoredObject]:
        return await asyncio.to_thread(self._walk, self.root, staged=False)

    async def list_staged(self) -> list[StoredObject]:
        return await asyncio.to_thread(self._walk, self.incoming, staged=True)

    async def delete_staged(self, key: str) -> bool:
        path = self.incoming / Path(key).name
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    def _check(self) -> None:
        probe = self.incoming / f".ready-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()

    async def check(self) -> None:
        await asyncio.to_thread(self._check)


def _flush_and_close(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()


def _close_and_remove(file: BinaryIO, path: Path) -> None:
    try:
        file.close()
    finally:
        path.unlink(missing_ok=True)


def is_valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def age_seconds(obj: StoredObject, now: float | None = None) -> float:
    return (time.time() if now is None else now) - obj.modified
