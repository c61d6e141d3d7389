-- migrate:up

-- Display names, deactivation, and the token state every service checks tokens against.
ALTER TABLE users
    ADD COLUMN name text,
    ADD COLUMN active boolean NOT NULL DEFAULT true,
    -- The `tv` claim of the user's valid tokens: bumped on a password change, a role change
    -- and a deactivation, so every token issued before is refused (helpdesk_common.token_state).
    ADD COLUMN token_version integer NOT NULL DEFAULT 0,
    -- When `token_version` or `active` last changed, and by which transaction (its id as a
    -- bigint): GET /token-state?since= answers the changes of transactions from `since` on.
    -- NULL: never changed since the account was created.
    ADD COLUMN token_state_changed_at timestamptz,
    ADD COLUMN token_state_txid bigint,
    -- GET /users?q=: words of the name and of the address (split at @ . + _ -), unstemmed,
    -- matched by prefix.
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', coalesce(name, '') || ' ' || translate(email, '@.+_-', '     '))
    ) STORED,
    ADD CONSTRAINT users_name_length CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 100),
    ADD CONSTRAINT users_token_version_valid CHECK (token_version >= 0);

CREATE INDEX users_search_idx ON users USING gin (search);
-- The feed: changes since a transaction id, and (for a service that just started) those of
-- the last minutes.
CREATE INDEX users_token_state_txid_idx ON users (token_state_txid) WHERE token_state_txid IS NOT NULL;
CREATE INDEX users_token_state_changed_idx ON users (token_state_changed_at) WHERE token_state_changed_at IS NOT NULL;

-- A session: one login, kept alive by rotating refresh tokens. Access tokens carry its id
-- (`sid`), so ending it (logout, a reused refresh token, a password change, a deactivation)
-- ends them too, everywhere, through the token-state feed.
CREATE TABLE s1_auth_sessions (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     integer     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    -- The transaction that ended it (for the feed), and why.
    ended_txid  bigint,
    end_reason  text,

    CONSTRAINT s1_auth_sessions_end_reason_valid
        CHECK (end_reason IN ('logout', 'refresh_reuse', 'password_changed', 'deactivated')),
    CONSTRAINT s1_auth_sessions_ended_together
        CHECK ((ended_at IS NULL) = (ended_txid IS NULL) AND (ended_at IS NULL) = (end_reason IS NULL))
);

-- "End every other session of this user" (password change, deactivation).
CREATE INDEX s1_auth_sessions_open_idx ON s1_auth_sessions (user_id) WHERE ended_at IS NULL;
-- The feed, as for users.
CREATE INDEX s1_auth_sessions_ended_txid_idx ON s1_auth_sessions (ended_txid) WHERE ended_txid IS NOT NULL;
CREATE INDEX s1_auth_sessions_ended_at_idx ON s1_auth_sessions (ended_at) WHERE ended_at IS NOT NULL;

-- Refresh tokens: random, 256 bits, stored only as their SHA-256 (a slow hash buys nothing
-- for a secret nobody can guess). Each is used once: a refresh marks it used and issues the
-- next one of the same session; presenting a used one again ends the session (someone else
-- has a copy).
CREATE TABLE s1_auth_refresh_tokens (
    token_hash  bytea       PRIMARY KEY,
    session_id  bigint      NOT NULL REFERENCES s1_auth_sessions (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,

    CONSTRAINT s1_auth_refresh_tokens_hash_length CHECK (octet_length(token_hash) = 32)
);

CREATE INDEX s1_auth_refresh_tokens_session_idx ON s1_auth_refresh_tokens (session_id);
-- Pruning takes expired tokens oldest first.
CREATE INDEX s1_auth_refresh_tokens_expires_idx ON s1_auth_refresh_tokens (expires_at);

-- Registrations, one row per attempt that reached the hash, for the per-address limit.
-- Pruned as new ones arrive, like the login failures.
CREATE TABLE s1_auth_registrations (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_ip    text        NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX s1_auth_registrations_ip_idx ON s1_auth_registrations (client_ip, attempted_at DESC);
CREATE INDEX s1_auth_registrations_attempted_at_idx ON s1_auth_registrations (attempted_at);

-- migrate:down
DROP TABLE s1_auth_registrations;
DROP TABLE s1_auth_refresh_tokens;
DROP TABLE s1_auth_sessions;
ALTER TABLE users
    DROP COLUMN search,
    DROP COLUMN token_state_txid,
    DROP COLUMN token_state_changed_at,
    DROP COLUMN token_version,
    DROP COLUMN active,
    DROP COLUMN name;
