-- migrate:up

-- A version per ticket for optimistic concurrency: GET /{id} sends it as the ETag and PATCH
-- with If-Match changes the ticket only if it is still that version. Kept by a trigger, so
-- every writer (S2's edits, S4's status, priority and assignment changes) moves it without
-- having to know about it.
ALTER TABLE tickets ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE FUNCTION tickets_next_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tickets_next_version
    BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_next_version();

-- Search as people type: the text is indexed stemmed ('english': "printers" finds "printer",
-- "crashes" finds "crash") and also as written ('simple'), so that a word typed halfway
-- matches the word it begins even where the stem is shorter than what was typed ("jamm"
-- begins "jammed", whose stem is "jam"). Recreated with its index; `search` never leaves the
-- database.
ALTER TABLE tickets DROP COLUMN search;
ALTER TABLE tickets ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('english', title || ' ' || description) || to_tsvector('simple', title || ' ' || description)
) STORED;
CREATE INDEX tickets_search_idx ON tickets USING gin (search) WITH (fastupdate = off);

-- migrate:down
ALTER TABLE tickets DROP COLUMN search;
ALTER TABLE tickets ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || description)) STORED;
CREATE INDEX tickets_search_idx ON tickets USING gin (search) WITH (fastupdate = off);
DROP TRIGGER tickets_next_version ON tickets;
DROP FUNCTION tickets_next_version();
ALTER TABLE tickets DROP COLUMN version;
