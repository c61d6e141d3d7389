-- migrate:up

-- Tickets, owned by S2. S4 (workflow) also updates status, priority, assigned_to and
-- updated_at on this table; nothing else writes to it.
--
-- No foreign keys to `users`: that table belongs to S1, which may migrate it on its own
-- schedule (or move it to another database); user ids here are the JWT `sub` values.
CREATE TABLE tickets (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     integer     NOT NULL,
    title       text        NOT NULL,
    description text        NOT NULL,
    category    text        NOT NULL,
    status      text        NOT NULL DEFAULT 'new',
    priority    text        NOT NULL DEFAULT 'medium',
    assigned_to integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Full-text search over title and description, kept in step by PostgreSQL itself.
    search      tsvector    GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || description)) STORED,

    CONSTRAINT tickets_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT tickets_description_length CHECK (char_length(description) BETWEEN 1 AND 20000),
    CONSTRAINT tickets_category_valid CHECK (category IN ('bug', 'feature', 'support', 'other')),
    CONSTRAINT tickets_status_valid CHECK (status IN ('new', 'assigned', 'in_progress', 'resolved', 'closed')),
    CONSTRAINT tickets_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'urgent'))
);

-- One index per list query, each ending in the list order (created_at DESC, id DESC) so a page
-- is an index range scan that stops after `limit` rows, whatever the table size.
-- A user's own tickets (every non-staff GET /).
CREATE INDEX tickets_user_created_idx ON tickets (user_id, created_at DESC, id DESC);
-- Staff listing with no filter.
CREATE INDEX tickets_created_idx ON tickets (created_at DESC, id DESC);
-- Staff filters (and S4's queue reads by status/priority).
CREATE INDEX tickets_status_created_idx ON tickets (status, created_at DESC, id DESC);
CREATE INDEX tickets_priority_created_idx ON tickets (priority, created_at DESC, id DESC);
-- The filter is always a user id, so unassigned rows never need to be in this index.
CREATE INDEX tickets_assigned_created_idx ON tickets (assigned_to, created_at DESC, id DESC)
    WHERE assigned_to IS NOT NULL;
-- ?q= full-text search. fastupdate off: tickets are written rarely and searched often, so each
-- insert updates the index at once instead of queueing in a pending list that every search
-- would have to scan (and that the planner prices in) until the next vacuum.
CREATE INDEX tickets_search_idx ON tickets USING gin (search) WITH (fastupdate = off);

-- migrate:down
DROP TABLE tickets;
