-- migrate:requires s2_tickets 001
-- migrate:up

-- The transactional outbox: every notification a workflow change causes, written in the same
-- transaction as the change (S4 owns this table). The relay (s4_workflow/relay.py) delivers
-- each row to S6 with `Idempotency-Key: s4-outbox-<id>`, so a row sent twice is stored once.
--
--   pending    due at next_attempt_at; a relay claims it by moving next_attempt_at past its
--              lease and bumping `attempts` (the claim token: a relay whose lease ran out can
--              no longer mark the row), so a relay killed mid-send only delays the row
--   delivered  S6 stored it (notification_id is S6's id); pruned after OUTBOX_RETENTION_HOURS
--   failed     S6 refused the body for good (a 4xx such as 400/409/413/415/422): kept, with
--              the answer in last_error, for an operator (requeue: SET status = 'pending')
CREATE TABLE workflow_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id       integer     NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    recipient_id    integer     NOT NULL,
    -- Passed to S6 when S4 already knows it (an assignee, from S1); S6 looks it up otherwise.
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

    CONSTRAINT workflow_outbox_status_valid CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT workflow_outbox_type_valid
        CHECK (type IN ('ticket_created', 'ticket_assigned', 'ticket_status_changed', 'ticket_closed')),
    CONSTRAINT workflow_outbox_channel_valid CHECK (channel IN ('email', 'sms', 'in_app')),
    CONSTRAINT workflow_outbox_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- The relay's claim: due pending rows, oldest due first. Partial: delivered rows, the bulk of
-- the table until they are pruned, are never in it.
CREATE INDEX workflow_outbox_due_idx ON workflow_outbox (next_attempt_at, id) WHERE status = 'pending';
-- Pruning delivered rows past their retention.
CREATE INDEX workflow_outbox_delivered_idx ON workflow_outbox (delivered_at) WHERE status = 'delivered';
-- Counting failed rows for /health (few, and only they are in it).
CREATE INDEX workflow_outbox_failed_idx ON workflow_outbox (id) WHERE status = 'failed';

-- Wake the relays as soon as a change commits (NOTIFY is delivered at commit, to every S4
-- replica listening; notifications of one transaction with the same payload arrive once).
-- The relay also polls, so a lost notification only delays a row by the poll interval.
CREATE FUNCTION workflow_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('workflow_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER workflow_outbox_inserted AFTER INSERT ON workflow_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_outbox_notify();

-- GET /queue: open tickets, urgent first, then oldest first. Priority order is not text order,
-- so the queue sorts by this rank (1 = urgent ... 4 = low: ascending, so that the whole sort key
-- (rank, created_at, id) runs one way and a keyset page is one row comparison). IMMUTABLE and
-- a plain CASE: the planner inlines it in the query and in the index alike, so they match.
-- S4 owns this function and the index below, although the index is on S2's table.
CREATE FUNCTION ticket_queue_rank(priority text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE priority WHEN 'urgent' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 END;

-- Partial over open tickets (the queue never shows resolved or closed ones, which are most of
-- a helpdesk's tickets), so the index stays as small as the queue itself.
CREATE INDEX tickets_queue_idx ON tickets (ticket_queue_rank(priority), created_at, id)
    WHERE status IN ('new', 'assigned', 'in_progress');

-- migrate:down
DROP INDEX tickets_queue_idx;
DROP FUNCTION ticket_queue_rank(text);
DROP TABLE workflow_outbox;
DROP FUNCTION workflow_outbox_notify();
