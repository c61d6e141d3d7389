"""Response bodies of S5 (its only request body is the multipart upload, read in forms.py)."""

from __future__ import annotations

from pydantic import BaseModel

from helpdesk_common.types import Timestamp


class MediaFileRead(BaseModel):
    id: int
    ticket_id: int
    filename: str  # the generated name the file is stored under
    original_filename: str  # the client's name, normalised (metadata only)
    mime_type: str  # the detected type
    file_size: int
    uploaded_by: int
    uploaded_at: Timestamp


class MediaFileList(BaseModel):
    files: list[MediaFileRead]
    next_cursor: str | None


class Message(BaseModel):
    message: str
