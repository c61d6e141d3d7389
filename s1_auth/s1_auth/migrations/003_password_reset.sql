-- migrate:up

-- Password reset by email. A reset token is random (256 bits) and is stored only as its
-- SHA-256, like a refresh token: this table never holds a usable link. It works once, until
-- `expires_at` (PASSWORD_RESET_TTL_SECONDS), and only while its account is active; setting a
-- password (by reset or by POST /password) uses up every other open token of the account.
CREATE TABLE s1_auth_password_resets (
    token_hash  bytea       PRIMARY KEY,
    user_id     integer     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,

    CONSTRAINT s1_auth_password_resets_hash_length CHECK (octet_length(token_hash) = 32)
);

-- "Use up this account's other open tokens"; pruning takes expired ones oldest first.
CREATE INDEX s1_auth_password_resets_open_idx ON s1_auth_password_resets (user_id) WHERE used_at IS NULL;
CREATE INDEX s1_auth_password_resets_expires_idx ON s1_auth_password_resets (expires_at);

-- Reset requests, one row each, for the throttles: per client address (429) and per address
-- asked for (beyond the limit nothing more is sent, and the answer stays the same). Recorded
-- for every well-formed address, whether or not an account has it, so the throttle itself
-- tells nobody which addresses exist. Pruned as new ones arrive, like the login failures.
CREATE TABLE s1_auth_reset_requests (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text        NOT NULL,
    client_ip    text        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX s1_auth_reset_requests_email_idx ON s1_auth_reset_requests (email, requested_at DESC);
CREATE INDEX s1_auth_reset_requests_ip_idx ON s1_auth_reset_requests (client_ip, requested_at DESC);
CREATE INDEX s1_auth_reset_requests_requested_at_idx ON s1_auth_reset_requests (requested_at);

-- A reset ends every session of the account.
ALTER TABLE s1_auth_sessions DROP CONSTRAINT s1_auth_sessions_end_reason_valid;
ALTER TABLE s1_auth_sessions ADD CONSTRAINT s1_auth_sessions_end_reason_valid
    CHECK (end_reason IN ('logout', 'refresh_reuse', 'password_changed', 'password_reset', 'deactivated'));

-- S1's transactional outbox (the shared shape, helpdesk_common.outbox): the reset emails,
-- written in the request's transaction and delivered to S6 by the outbox relay, so the
-- request never waits on S6 or SMTP and an email is never lost to S6 being down.
--
-- `message` holds the live reset link until the row is delivered (or refused): the trigger
-- below blanks it then, so the link lives on only in the recipient's mailbox (S6 does the same
-- to its own copy once sent).
CREATE TABLE s1_auth_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No ticket: S1's messages are about accounts. Kept for the shared shape.
    ticket_id       integer,
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

    CONSTRAINT s1_auth_outbox_status_valid CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT s1_auth_outbox_type_valid CHECK (type IN ('password_reset')),
    CONSTRAINT s1_auth_outbox_channel_valid CHECK (channel IN ('email')),
    CONSTRAINT s1_auth_outbox_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

CREATE INDEX s1_auth_outbox_due_idx ON s1_auth_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX s1_auth_outbox_delivered_idx ON s1_auth_outbox (delivered_at) WHERE status = 'delivered';
CREATE INDEX s1_auth_outbox_failed_idx ON s1_auth_outbox (id) WHERE status = 'failed';

-- Wake the relays at commit (they poll as well).
CREATE FUNCTION s1_auth_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('s1_auth_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER s1_auth_outbox_inserted AFTER INSERT ON s1_auth_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION s1_auth_outbox_notify();

-- A delivered or refused row keeps no reset link, whichever code marks it.
CREATE FUNCTION s1_auth_outbox_forget_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.message := '(password reset link removed once handed to S6)';
    RETURN NEW;
END
$$;
CREATE TRIGGER s1_auth_outbox_done BEFORE UPDATE OF status ON s1_auth_outbox
    FOR EACH ROW WHEN (NEW.type = 'password_reset' AND NEW.status <> 'pending')
    EXECUTE FUNCTION s1_auth_outbox_forget_link();

-- migrate:down
DROP TABLE s1_auth_outbox;
DROP FUNCTION s1_auth_outbox_forget_link();
DROP FUNCTION s1_auth_outbox_notify();
ALTER TABLE s1_auth_sessions DROP CONSTRAINT s1_auth_sessions_end_reason_valid;
ALTER TABLE s1_auth_sessions ADD CONSTRAINT s1_auth_sessions_end_reason_valid
    CHECK (end_reason IN ('logout', 'refresh_reuse', 'password_changed', 'deactivated'));
DROP TABLE s1_auth_reset_requests;
DROP TABLE s1_auth_password_resets;
