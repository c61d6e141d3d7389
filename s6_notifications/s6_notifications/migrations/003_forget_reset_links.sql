-- migrate:up

-- A `password_reset` email (from S1) carries a live reset link, a credential until it expires.
-- S6 keeps it only while it still has to send it: once the row is sent or has failed for good,
-- the message is replaced by a note, whichever code marks the row, so neither the table nor
-- GET /history hands out a working link. (S1 keeps only the token's hash, and blanks its own
-- outbox copy once S6 has it.)
CREATE FUNCTION notifications_forget_reset_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.message := '(A password reset link was sent; it is not kept here.)';
    RETURN NEW;
END
$$;
CREATE TRIGGER notifications_reset_link_sent BEFORE UPDATE OF status ON notifications
    FOR EACH ROW WHEN (NEW.type = 'password_reset' AND NEW.status IN ('sent', 'failed'))
    EXECUTE FUNCTION notifications_forget_reset_link();

-- migrate:down
DROP TRIGGER notifications_reset_link_sent ON notifications;
DROP FUNCTION notifications_forget_reset_link();
