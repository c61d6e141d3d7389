"""Two small parts of the template: server settings on a service's pool (the read-only session
S7 uses) and the shared free-text validators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
import pytest
from pydantic import AfterValidator, BaseModel, ValidationError

from helpdesk_common.app import create_app
from helpdesk_common.db import READ_ONLY_SESSION
from helpdesk_common.settings import ServiceSettings
from helpdesk_common.text import multiline_text
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.pytest_plugin import base_settings


@pytest.fixture
async def scratch_db(pg_admin_dsn: str) -> AsyncIterator[str]:
    yield await create_scratch_database(pg_admin_dsn, prefix="readonly")


async def test_a_read_only_service_reads_and_cannot_write(scratch_db: str) -> None:
    setup = await asyncpg.connect(scratch_db)
    await setup.execute("CREATE TABLE owned_elsewhere (n integer); INSERT INTO owned_elsewhere VALUES (1)")
    await setup.close()
    app = create_app(ServiceSettings(**base_settings(scratch_db)), title="reader", db_server_settings=READ_ONLY_SESSION)
    async with app.router.lifespan_context(app), app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT n FROM owned_elsewhere") == 1
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO owned_elsewhere VALUES (2)")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with conn.transaction():
                await conn.execute("UPDATE owned_elsewhere SET n = 3")


class Note(BaseModel):
    text: Annotated[str, AfterValidator(multiline_text)]


@pytest.mark.parametrize("text", ["line one\nline two", "tab\there", "windows\r\nline", "émoji 🎉"])
def test_prose_keeps_tabs_line_breaks_and_any_letter(text: str) -> None:
    assert Note(text=text).text == text


@pytest.mark.parametrize("text", ["nul\x00", "bell\x07", "escape\x1b[31m", "del\x7f", "lone \ud800 surrogate"])
def test_prose_refuses_control_characters_and_unstorable_text(text: str) -> None:
    with pytest.raises(ValidationError):
        Note(text=text)
