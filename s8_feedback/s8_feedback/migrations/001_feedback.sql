-- migrate:requires s2_tickets 001
-- migrate:up

-- Customer satisfaction ratings, owned by S8: one per (ticket, user); a second rating of the
-- same ticket by the same user replaces the first (same row, new rating and updated_at).
-- Only the ticket's owner may rate, and only a resolved or closed ticket (checked by S8
-- through S2 before writing); the constraints below keep the stored values sane whatever
-- writes them.
CREATE TABLE feedback (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   integer     NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     integer     NOT NULL,
    rating      smallint    NOT NULL,
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- When the rating was last given (= created_at until it is replaced): S7's "last 7 days".
    updated_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT feedback_rating_range CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT feedback_comment_length CHECK (char_length(comment) BETWEEN 1 AND 2000),
    -- Also the index of GET /ticket/:id and of the upsert's ON CONFLICT.
    CONSTRAINT feedback_ticket_user_key UNIQUE (ticket_id, user_id)
);

-- GET /user/:id, newest first, keyset-paginated (and users_who_gave_feedback in /stats).
CREATE INDEX feedback_user_created_idx ON feedback (user_id, created_at DESC, id DESC);
-- S7's rating figures by rating time, from the index alone (no heap visits once vacuumed).
CREATE INDEX feedback_updated_rating_idx ON feedback (updated_at) INCLUDE (rating);

-- migrate:down
DROP TABLE feedback;
