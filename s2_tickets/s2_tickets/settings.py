"""S2's settings: the shared ones, the outbox relay's, requester names in staff views, the conversation."""

from pydantic import Field

from helpdesk_common.outbox import OutboxSettings


class Settings(OutboxSettings):
    """The shared settings, the outbox relay's (OUTBOX_*: the conversation's notifications),
    and S2's own."""

    service_name: str = "s2-tickets"
    port: int = 3002

    # Staff views name each ticket's requester, asked from S1 a page at a time and kept this
    # long (a renamed user shows under the new name within this time) ...
    requester_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # ... for at most this many users (least recently used go first) ...
    requester_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    # ... waiting at most this long for S1; after a failure S1 is left alone for a few seconds
    # and lists answer with the names they have (or none) meanwhile.
    requester_lookup_timeout_seconds: float = Field(default=1.0, gt=0, le=30)

    # The conversation: a comment can be edited (and deleted) by its author this long after
    # posting; admins may delete any comment at any time.
    comment_edit_window_seconds: float = Field(default=900.0, gt=0, le=86_400)
    # The active staff, told of a customer's reply on an unassigned ticket, asked from S1 and
    # kept this long (a new staff member hears of replies within this time).
    staff_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
