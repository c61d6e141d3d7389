-- migrate:requires s2_tickets 001
-- migrate:up

-- Attachments, owned by S5. The bytes live in the store (MEDIA_DIR), under the generated name
-- `filename` (sharded: ab/cd/abcd....png); a row is inserted only once its file is complete
-- and in place, so a row without a file means the store lost it (the orphan sweep and the
-- download both report it).
--
-- ON DELETE CASCADE: an attachment lives and dies with its ticket. Tickets are not deleted
-- today; if they ever are, their rows go with them and the orphan sweep removes the files
-- (files without rows) at its next run.
CREATE TABLE media_files (
    id                integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id         integer     NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    filename          text        NOT NULL,
    original_filename text        NOT NULL,
    mime_type         text        NOT NULL,
    file_size         bigint      NOT NULL,
    uploaded_by       integer     NOT NULL,
    uploaded_at       timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT media_files_filename_unique UNIQUE (filename),
    CONSTRAINT media_files_filename_generated CHECK (filename ~ '^[0-9a-f]{32}\.[a-z0-9]{1,5}$'),
    CONSTRAINT media_files_original_filename_length CHECK (char_length(original_filename) BETWEEN 1 AND 255),
    CONSTRAINT media_files_mime_type_allowed CHECK (mime_type IN (
        'image/jpeg', 'image/png', 'image/gif', 'image/webp', 'application/pdf', 'text/plain',
        'application/msword', 'application/vnd.ms-excel',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
    )),
    CONSTRAINT media_files_file_size_positive CHECK (file_size > 0)
);

-- A ticket's files, newest first (GET /ticket/:id, keyset on (uploaded_at, id)), and the
-- quota's count and sum of one ticket's files.
CREATE INDEX media_files_ticket_uploaded_idx ON media_files (ticket_id, uploaded_at DESC, id DESC);

-- migrate:down
DROP TABLE media_files;
