-- migrate:requires s2_tickets 001
-- migrate:up

-- Every change of a ticket's workflow columns, one row per field changed, written by S4 in the
-- same transaction as the change (S4 owns this table; S7 reads it for resolution times).
CREATE TABLE ticket_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id       integer     NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    changed_by      integer     NOT NULL,
    -- The role the change was made with (from the verified token), so "the first staff
    -- response" is answerable without asking S1 about every row.
    changed_by_role text        NOT NULL,
    field_name      text        NOT NULL,
    old_value       text,
    new_value       text,
    changed_at      timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT ticket_history_role_valid CHECK (changed_by_role IN ('user', 'staff', 'admin')),
    CONSTRAINT ticket_history_field_valid
        CHECK (field_name IN ('status', 'priority', 'assigned_to', 'title', 'description', 'category'))
);

-- GET /history/:id, newest first.
CREATE INDEX ticket_history_ticket_idx ON ticket_history (ticket_id, changed_at DESC, id DESC);

-- migrate:down
DROP TABLE ticket_history;
