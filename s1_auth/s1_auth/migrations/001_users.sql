-- migrate:up

-- Accounts, owned by S1. Other services know users only by the JWT `sub` (users.id) and
-- never read or write this table.
CREATE TABLE users (
    id            integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Stored trimmed and lower-cased by the service, so the unique constraint is the
    -- case-insensitive "one account per address" rule and needs no expression index.
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user',
    created_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 320),
    CONSTRAINT users_role_valid CHECK (role IN ('user', 'staff', 'admin'))
);

-- GET /users?role=... (the assign picker lists staff) pages through one role by id, and the
-- last-admin rule locks every admin row: both are a range of this index.
CREATE INDEX users_role_id_idx ON users (role, id);

-- Failed logins, one row each, for the login throttle. Kept in PostgreSQL so that the limit
-- holds across replicas and restarts. Rows older than the throttle window are useless and
-- are pruned as new failures arrive (see UsersRepository.record_login_failure).
CREATE TABLE s1_auth_login_failures (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The address as typed at login (trimmed, lower-cased), whether or not an account has it.
    email     text        NOT NULL,
    client_ip text        NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);

-- "How many failures for this email / this client within the window": newest first per key.
CREATE INDEX s1_auth_login_failures_email_idx ON s1_auth_login_failures (email, failed_at DESC);
CREATE INDEX s1_auth_login_failures_ip_idx ON s1_auth_login_failures (client_ip, failed_at DESC);
-- Pruning takes the oldest rows first.
CREATE INDEX s1_auth_login_failures_failed_at_idx ON s1_auth_login_failures (failed_at);

-- migrate:down
DROP TABLE s1_auth_login_failures;
DROP TABLE users;
