"""The ticket vocabulary, defined once: statuses, priorities and categories (and the kinds of
notification S4 sends to S6).

S2 owns the `tickets` table and its CHECK constraints; S4 (workflow), S7 (analytics) and the
others speak about the same values. They all import them from here, and
`s2_tickets/tests/test_schema.py` checks that the table's CHECK constraints allow exactly these
values, so a new status cannot reach one side without the other.
"""

from __future__ import annotations

from typing import Literal, get_args

Status = Literal["new", "assigned", "in_progress", "resolved", "closed"]
Priority = Literal["low", "medium", "high", "urgent"]
Category = Literal["bug", "feature", "support", "other"]

STATUSES: tuple[Status, ...] = get_args(Status)
PRIORITIES: tuple[Priority, ...] = get_args(Priority)  # lowest first
CATEGORIES: tuple[Category, ...] = get_args(Category)

DEFAULT_PRIORITY: Priority = "medium"
# A ticket is open until it is resolved; the queue and the age buckets count open tickets only.
OPEN_STATUSES: tuple[Status, ...] = ("new", "assigned", "in_progress")
DONE_STATUSES: tuple[Status, ...] = ("resolved", "closed")
# Urgent first: the queue's order, and the rank S4's index sorts by (urgent = 4 ... low = 1).
PRIORITY_RANK: dict[Priority, int] = {p: i + 1 for i, p in enumerate(PRIORITIES)}

# Notifications (S6 owns the `notifications` table; S4 sends the ticket_* workflow types, S2
# the conversation's `ticket_reply` and `ticket_internal_note`, S1 `password_reset`, each through
# its outbox: helpdesk_common.outbox). S6's schema test checks the table's CHECK constraints
# against these.
NotificationType = Literal[
    "ticket_created",
    "ticket_assigned",
    "ticket_status_changed",
    "ticket_closed",
    "test_alert",
    "ticket_reply",
    "ticket_internal_note",
    "password_reset",
]
NotificationChannel = Literal["email", "sms", "in_app"]
NOTIFICATION_TYPES: tuple[NotificationType, ...] = get_args(NotificationType)
NOTIFICATION_CHANNELS: tuple[NotificationChannel, ...] = get_args(NotificationChannel)
