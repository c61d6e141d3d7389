-- migrate:up

-- Notifications, owned by S6: what was asked to be sent to whom, and the delivery queue itself
-- (a row is its own queue entry; no queue lives in memory).
--
-- No foreign keys: `users` belongs to S1, and a notification is a record of what a user was
-- told, kept after its ticket is gone (`ticket_id` is informational, set by S4 or staff).
CREATE TABLE notifications (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             integer     NOT NULL,
    ticket_id           integer,
    type                text        NOT NULL,
    channel             text        NOT NULL,
    message             text        NOT NULL,
    -- The address it goes to: an email address or a phone number (E.164); null for in-app, and
    -- for an email until the address has been looked up in S1 at send time.
    recipient           text,
    status              text        NOT NULL DEFAULT 'pending',
    -- Retries made after the first attempt (at most MAX_RETRIES; then `failed`).
    retry_count         integer     NOT NULL DEFAULT 0,
    -- When a `pending` row is due (now for a new one; later for a retry).
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    -- A `sending` row belongs to the worker `claimed_by` until `claimed_until`; after that any
    -- worker may claim it again (its worker died mid-send).
    claimed_by          text,
    claimed_until       timestamptz,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    read_at             timestamptz,
    -- In-app rows: their position in the recipients' event streams (the SSE event id), given
    -- when they are marked sent, in commit order (see repository.py).
    stream_seq          bigint,
    -- Who asked: 'service' (the service credential) or 'user:<id>'. Idempotency keys are
    -- scoped to it, so no sender can use up a key another sender will send.
    sender              text        NOT NULL,
    idempotency_key     text,
    -- sha256 of the request's fields: a key reused with another body is a 409, not a replay.
    request_fingerprint text,

    CONSTRAINT notifications_type_valid
        CHECK (type IN ('ticket_created', 'ticket_assigned', 'ticket_status_changed', 'ticket_closed', 'test_alert')),
    CONSTRAINT notifications_channel_valid CHECK (channel IN ('email', 'sms', 'in_app')),
    CONSTRAINT notifications_status_valid CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    CONSTRAINT notifications_message_length CHECK (char_length(message) BETWEEN 1 AND 2000),
    CONSTRAINT notifications_retry_count_valid CHECK (retry_count >= 0),
    CONSTRAINT notifications_claim_complete CHECK ((status = 'sending') = (claimed_until IS NOT NULL)),
    CONSTRAINT notifications_sent_at_set CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    -- NULL keys are distinct: only keyed requests are deduplicated. INSERT ... ON CONFLICT on
    -- this constraint makes two concurrent repeats store one row.
    CONSTRAINT notifications_idempotency UNIQUE (sender, idempotency_key)
);

CREATE SEQUENCE notifications_stream_seq AS bigint;

-- The workers' claims, one channel each, oldest due first; partial, so they hold only the
-- rows still to deliver however large the sent history grows.
CREATE INDEX notifications_due_idx ON notifications (channel, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX notifications_claimed_idx ON notifications (channel, claimed_until) WHERE status = 'sending';
-- GET /history/:userId, newest first (keyset on created_at, id).
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC, id DESC);
-- GET /stream: a user's in-app notifications after a stream position (Last-Event-ID).
CREATE INDEX notifications_user_stream_idx ON notifications (user_id, stream_seq) WHERE stream_seq IS NOT NULL;

-- Short-lived, single-use tickets that open one GET /stream (a browser's EventSource cannot
-- send an Authorization header). Only a hash is kept: the table never holds a usable ticket.
CREATE TABLE notification_stream_tickets (
    ticket_hash bytea       PRIMARY KEY,
    user_id     integer     NOT NULL,
    role        text        NOT NULL,
    email       text        NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX notification_stream_tickets_expires_idx ON notification_stream_tickets (expires_at);

-- migrate:down
DROP TABLE notification_stream_tickets;
DROP TABLE notifications;
DROP SEQUENCE notifications_stream_seq;
