"""S5 routes, mounted at the root: the gateway maps /media/upload to /upload, /media/7 to /7.

The routes borrow a database connection only for their short SQL steps (`acquire`), never for
the whole request: an upload can last minutes and a download streams 10 MiB, and neither may
hold one of the pool's few connections meanwhile.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from helpdesk_common.auth import CallerToken, CurrentUser
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.service_client import Services
from helpdesk_common.types import PathId
from s5_media import service
from s5_media.filenames import content_disposition
from s5_media.filetypes import ALLOWED, TEXT
from s5_media.schemas import MediaFileList, MediaFileRead, Message
from s5_media.service import Media, UploadGate

router = APIRouter(tags=["media"])

# Served with every download: a file is never shown as part of the site, never sniffed into
# another type, and nothing in it can run with the site's rights even if opened in a tab.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}
# The status logged for an upload whose client left before it ended (nobody reads the answer).
CLIENT_CLOSED_REQUEST = 499

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["ticket_id", "file"],
                    # Field order matters: ticket_id first lets S5 refuse before reading the file.
                    "properties": {
                        "ticket_id": {"type": "integer", "minimum": 1, "description": "send it before the file"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


async def get_media(request: Request, services: Services) -> Media:
    return Media(
        settings=request.app.state.settings,
        storage=request.app.state.storage,
        pool=request.app.state.pool,
        services=services,
    )


MediaDep = Annotated[Media, Depends(get_media)]


def json_response(body: MediaFileRead | MediaFileList | Message, status_code: int = 200) -> Response:
    return Response(content=body.model_dump_json(), status_code=status_code, media_type="application/json")


def file_read(row: asyncpg.Record) -> MediaFileRead:
    return MediaFileRead.model_validate(dict(row))


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


@router.post(
    "/upload",
    status_code=201,
    response_model=MediaFileRead,
    summary="Attach a file to a ticket (owner or staff); multipart with ticket_id first, then file",
    openapi_extra=UPLOAD_BODY,
)
async def upload_file(request: Request, user: CurrentUser, token: CallerToken, media: MediaDep) -> Response:
    gate: UploadGate = request.app.state.upload_gate
    with gate.slot():
        try:
            row = await service.upload(
                media,
                user=user,
                token=token,
                content_type=request.headers.get("content-type"),
                content_length=_content_length(request),
                body=request.stream(),
            )
        except ClientDisconnect:
            # Gone mid-upload: the temporary file is already removed; there is no one to answer.
            return Response(status_code=CLIENT_CLOSED_REQUEST)
    return json_response(file_read(row), status_code=201)


@router.get(
    "/ticket/{ticket_id}", response_model=MediaFileList, summary="A ticket's files, newest first (owner or staff)"
)
async def list_files(
    ticket_id: PathId, _user: CurrentUser, token: CallerToken, media: MediaDep, limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:  # fmt: skip
    rows, next_cursor = await service.list_page(media, ticket_id=ticket_id, token=token, cursor=cursor, limit=limit)
    body = MediaFileList.model_validate({"files": [dict(r) for r in rows], "next_cursor": next_cursor})
    return json_response(body)


@router.get(
    "/{file_id}",
    summary="Download a file (owner or staff of its ticket), streamed as an attachment",
    response_class=StreamingResponse,
    # The stored type, one of those an upload may have (schemathesis checks the answer's type).
    responses={
        200: {
            "content": {mime_type: {"schema": {"type": "string", "format": "binary"}} for mime_type in ALLOWED},
            "description": "the file's bytes, with the type it was stored as",
        }
    },
)
async def download_file(file_id: PathId, _user: CurrentUser, token: CallerToken, media: MediaDep) -> Response:
    row, stream = await service.open_download(media, file_id=file_id, token=token)
    mime_type = row["mime_type"]
    headers = {
        **DOWNLOAD_HEADERS,
        "Content-Length": str(stream.size),
        "Content-Disposition": content_disposition(row["original_filename"]),
    }
    # The text check proved UTF-8; saying so keeps a browser from guessing another charset.
    media_type = f"{TEXT}; charset=utf-8" if mime_type == TEXT else mime_type
    return StreamingResponse(stream, media_type=media_type, headers=headers)


@router.delete("/{file_id}", response_model=Message, summary="Delete a file and its row (uploader or staff)")
async def delete_file(file_id: PathId, user: CurrentUser, token: CallerToken, media: MediaDep) -> Response:
    await service.delete(media, file_id=file_id, user=user, token=token)
    return json_response(Message(message=f"File {file_id} deleted."))
