-- migrate:up

-- The ticket conversation: public replies and internal staff notes, owned by S2.
--
-- A deleted comment keeps its row (the thread keeps its shape): its body becomes '' and
-- deleted_at says when. `internal` notes are staff-only; the table refuses one written by a
-- plain user, whatever the code above it does.
CREATE TABLE ticket_comments (
    id          integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   integer     NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_id   integer     NOT NULL,
    -- The role the comment was written with (from the verified token): which side spoke.
    author_role text        NOT NULL,
    body        text        NOT NULL,
    internal    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    edited_at   timestamptz,
    deleted_at  timestamptz,
    -- Searched with the ticket's own text (GET /tickets?q=): stemmed and as written, like
    -- tickets.search; a deleted comment's '' matches nothing.
    search      tsvector    GENERATED ALWAYS AS (to_tsvector('english', body) || to_tsvector('simple', body)) STORED,

    CONSTRAINT ticket_comments_role_valid CHECK (author_role IN ('user', 'staff', 'admin')),
    CONSTRAINT ticket_comments_internal_is_staff CHECK (NOT internal OR author_role IN ('staff', 'admin')),
    CONSTRAINT ticket_comments_body_length CHECK (
        (deleted_at IS NULL AND char_length(body) BETWEEN 1 AND 20000) OR (deleted_at IS NOT NULL AND body = '')
    )
);

-- The thread, oldest first: GET /:id/comments and the timeline read a range of it.
CREATE INDEX ticket_comments_thread_idx ON ticket_comments (ticket_id, created_at, id);
-- ?q= over comment bodies; fastupdate off as for tickets_search_idx (searched more than written).
CREATE INDEX ticket_comments_search_idx ON ticket_comments USING gin (search) WITH (fastupdate = off);

-- Per ticket, kept in the comment's own transaction: counts and the time of the last activity,
-- twice over, because an owner must not learn that internal notes exist (not even from a count
-- or from a ticket moving up a list sorted by activity):
--   public_*  what the owner sees: public comments only;
--   the rest  what staff see: every comment.
-- Activity is the latest of the ticket's creation, its last change (updated_at, S2's edits and
-- S4's workflow alike, see the trigger below) and its last comment.
ALTER TABLE tickets
    ADD COLUMN comment_count        integer     NOT NULL DEFAULT 0,
    ADD COLUMN public_comment_count integer     NOT NULL DEFAULT 0,
    ADD COLUMN activity_at          timestamptz,
    ADD COLUMN public_activity_at   timestamptz;

-- The version (the ETag) guards the ticket's own fields: a comment, which changes only the
-- conversation columns above, does not make an owner's If-Match edit fail. Any other change
-- moves it as before. A change of updated_at is activity.
CREATE OR REPLACE FUNCTION tickets_next_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.user_id, NEW.title, NEW.description, NEW.category, NEW.status, NEW.priority, NEW.assigned_to,
        NEW.created_at, NEW.updated_at)
       IS DISTINCT FROM
       (OLD.user_id, OLD.title, OLD.description, OLD.category, OLD.status, OLD.priority, OLD.assigned_to,
        OLD.created_at, OLD.updated_at) THEN
        NEW.version := OLD.version + 1;
    END IF;
    IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        NEW.activity_at := greatest(NEW.activity_at, NEW.updated_at);
        NEW.public_activity_at := greatest(NEW.public_activity_at, NEW.updated_at);
    END IF;
    RETURN NEW;
END;
$$;

-- Existing tickets: their last change is their last activity (the version stays: only the
-- new columns change).
UPDATE tickets SET activity_at = updated_at, public_activity_at = updated_at;
ALTER TABLE tickets
    ALTER COLUMN activity_at SET DEFAULT now(),
    ALTER COLUMN activity_at SET NOT NULL,
    ALTER COLUMN public_activity_at SET DEFAULT now(),
    ALTER COLUMN public_activity_at SET NOT NULL;

-- ?sort=activity, most recent first, keyset-paginated like the default order: the owner's
-- list, staff's whole list, and staff's two common narrowings (a status, an assignee).
CREATE INDEX tickets_user_activity_idx ON tickets (user_id, public_activity_at DESC, id DESC);
CREATE INDEX tickets_activity_idx ON tickets (activity_at DESC, id DESC);
CREATE INDEX tickets_status_activity_idx ON tickets (status, activity_at DESC, id DESC);
CREATE INDEX tickets_assigned_activity_idx ON tickets (assigned_to, activity_at DESC, id DESC)
    WHERE assigned_to IS NOT NULL;

-- Notifications the conversation causes, written in the comment's transaction and delivered
-- to S6 by an outbox relay (the shape of S4's workflow_outbox, see s4_workflow's migration 002:
-- pending / delivered / failed, a lease through next_attempt_at and attempts).
CREATE TABLE tickets_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id       integer     NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    recipient_id    integer     NOT NULL,
    recipient_email text,
    type            text        NOT NULL,
    channel         text        NOT NULL,
    message         text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    notification_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,

    CONSTRAINT tickets_outbox_status_valid CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT tickets_outbox_type_valid
        CHECK (type IN ('ticket_reply', 'ticket_internal_note', 'ticket_status_changed')),
    CONSTRAINT tickets_outbox_channel_valid CHECK (channel IN ('email', 'sms', 'in_app')),
    CONSTRAINT tickets_outbox_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX tickets_outbox_due_idx ON tickets_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX tickets_outbox_delivered_idx ON tickets_outbox (delivered_at) WHERE status = 'delivered';
CREATE INDEX tickets_outbox_failed_idx ON tickets_outbox (id) WHERE status = 'failed';

CREATE FUNCTION tickets_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tickets_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_outbox_inserted AFTER INSERT ON tickets_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION tickets_outbox_notify();

-- Who wants an email for replies on their tickets (absent: yes). In-app always.
CREATE TABLE ticket_notification_preferences (
    user_id        integer     PRIMARY KEY,
    email_replies  boolean     NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE ticket_notification_preferences;
DROP TABLE tickets_outbox;
DROP FUNCTION tickets_outbox_notify();
DROP INDEX tickets_assigned_activity_idx;
DROP INDEX tickets_status_activity_idx;
DROP INDEX tickets_activity_idx;
DROP INDEX tickets_user_activity_idx;
DROP TABLE ticket_comments;
ALTER TABLE tickets
    DROP COLUMN comment_count, DROP COLUMN public_comment_count,
    DROP COLUMN activity_at, DROP COLUMN public_activity_at;
