-- migrate:up

-- A rollup of ticket_history for S7's response-time figures: per ticket, when staff first
-- touched it and when it was first resolved, beside the ticket's creation time. Owned by S4
-- (it is derived from S4's history alone) and maintained by PostgreSQL itself: the trigger
-- below runs inside every transaction that writes a history row, so S4's code does not know it
-- exists and the rollup is never behind. S7 reads it.
--
-- Why a rollup and not a query: the median and p90 of "created -> first staff row" over the
-- tickets of the last 30 days, at 1,000,000 tickets and 2,000,000 history rows, took 210-280 ms
-- on the 2-core machine as a join of history and tickets (hash join + per-ticket min, measured
-- with every index that helps); read from this table it takes ~55 ms (docs/performance.md).
CREATE TABLE ticket_milestones (
    ticket_id           integer     PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    -- Copied from tickets.created_at (which never changes), so the 30-day cohort is one range
    -- scan of the index below, without a join.
    ticket_created_at   timestamptz NOT NULL,
    -- The earliest history row written by staff or an admin (any field): the first response.
    first_response_at   timestamptz,
    -- The earliest change of status to 'resolved'.
    first_resolved_at   timestamptz
);

CREATE INDEX ticket_milestones_created_idx
    ON ticket_milestones (ticket_created_at) INCLUDE (first_response_at, first_resolved_at);

CREATE FUNCTION ticket_milestones_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    response_at timestamptz := CASE WHEN NEW.changed_by_role IN ('staff', 'admin') THEN NEW.changed_at END;
    resolved_at timestamptz := CASE WHEN NEW.field_name = 'status' AND NEW.new_value = 'resolved'
                                    THEN NEW.changed_at END;
BEGIN
    INSERT INTO ticket_milestones AS m (ticket_id, ticket_created_at, first_response_at, first_resolved_at)
    SELECT t.id, t.created_at, response_at, resolved_at FROM tickets t WHERE t.id = NEW.ticket_id
    ON CONFLICT (ticket_id) DO UPDATE
        -- least() ignores NULLs: a row that is not a milestone keeps the stored one.
        SET first_response_at = least(m.first_response_at, EXCLUDED.first_response_at),
            first_resolved_at = least(m.first_resolved_at, EXCLUDED.first_resolved_at)
        -- Only when this row is earlier than what is stored: no dead row for every later change.
        WHERE (EXCLUDED.first_response_at IS NOT NULL
               AND (m.first_response_at IS NULL OR EXCLUDED.first_response_at < m.first_response_at))
           OR (EXCLUDED.first_resolved_at IS NOT NULL
               AND (m.first_resolved_at IS NULL OR EXCLUDED.first_resolved_at < m.first_resolved_at));
    RETURN NULL;
END;
$$;

-- History rows are only ever inserted (S4 never updates or deletes one; a deleted ticket takes
-- its rows and its milestones with it), so INSERT is the one event to follow. Rows that are no
-- milestone (an owner's edit) do not fire it at all.
CREATE TRIGGER ticket_history_milestones
    AFTER INSERT ON ticket_history
    FOR EACH ROW
    WHEN (NEW.changed_by_role IN ('staff', 'admin') OR (NEW.field_name = 'status' AND NEW.new_value = 'resolved'))
    EXECUTE FUNCTION ticket_milestones_record();

-- Rows written before this migration.
INSERT INTO ticket_milestones (ticket_id, ticket_created_at, first_response_at, first_resolved_at)
SELECT t.id, t.created_at,
       min(h.changed_at) FILTER (WHERE h.changed_by_role IN ('staff', 'admin')),
       min(h.changed_at) FILTER (WHERE h.field_name = 'status' AND h.new_value = 'resolved')
  FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id
 WHERE h.changed_by_role IN ('staff', 'admin') OR (h.field_name = 'status' AND h.new_value = 'resolved')
 GROUP BY t.id;

-- S7's daily "resolved" series: the status changes to resolved of the last 30 days.
CREATE INDEX ticket_history_resolved_idx ON ticket_history (changed_at) INCLUDE (ticket_id)
    WHERE field_name = 'status' AND new_value = 'resolved';

-- migrate:down
DROP INDEX ticket_history_resolved_idx;
DROP TRIGGER ticket_history_milestones ON ticket_history;
DROP FUNCTION ticket_milestones_record();
DROP TABLE ticket_milestones;
