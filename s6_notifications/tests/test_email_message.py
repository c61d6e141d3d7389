"""The bytes S6 sends in DATA: what a mail client reads of them."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta, timezone
from email import policy

from s6_notifications.channels import build_email
from s6_notifications.repository import Notification


def notification(message: str, *, created_at: datetime) -> Notification:
    return Notification(
        id=42,
        user_id=7,
        ticket_id=12,
        type="ticket_status_changed",
        channel="email",
        message=message,
        recipient="user@example.com",
        status="sending",
        retry_count=0,
        next_attempt_at=created_at,
        claimed_by=None,
        claimed_until=None,
        last_error=None,
        created_at=created_at,
        sent_at=None,
        read_at=None,
        stream_seq=None,
        sender="service",
        idempotency_key=None,
        request_fingerprint=None,
    )


def test_a_message_reads_back_with_its_headers_and_both_bodies() -> None:
    # Created at 03:30 in UTC+02:00: the Date header says 01:30 in UTC, with a numeric zone.
    created = datetime(2026, 12, 4, 3, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    text = "Ticket #12 moved to résolu.\n\nDétails: <b>not markup</b>"
    raw = build_email(
        notification(text, created_at=created), recipient="user@example.com", sender="Helpdesk <help@example.org>"
    )
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Date"] == "Fri, 04 Dec 2026 01:30:05 +0000"
    assert parsed["To"] == "user@example.com"
    assert parsed["Message-ID"] == f"<notification-42.{int(created.timestamp())}@example.org>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Subject"].startswith("[Helpdesk] ")
    plain = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html_part is not None
    assert plain.get_content().startswith(text + "\n\n-- \n")
    html_body = html_part.get_content()
    assert "résolu" in html_body and "&lt;b&gt;not markup&lt;/b&gt;" in html_body and "<b>" not in html_body
    assert parsed.get_content_type() == "multipart/alternative"
    raw.decode("ascii")  # 7-bit on the wire: quoted-printable bodies, encoded headers


def test_a_non_ascii_sender_name_is_encoded_and_its_address_kept() -> None:
    item = notification("x", created_at=datetime(2026, 12, 4, tzinfo=UTC))
    raw = build_email(item, recipient="user@example.com", sender="Hélpdesk Équipe <help@example.org>")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    raw.decode("ascii")
    (address,) = parsed["From"].addresses
    assert (address.display_name, address.addr_spec) == ("Hélpdesk Équipe", "help@example.org")
