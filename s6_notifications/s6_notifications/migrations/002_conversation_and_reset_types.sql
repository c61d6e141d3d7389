-- migrate:up

-- The kinds S2's conversation (a reply, an internal note) and S1's password reset send
-- (helpdesk_common.vocabulary.NOTIFICATION_TYPES; tests/test_schema.py checks they agree).
ALTER TABLE notifications DROP CONSTRAINT notifications_type_valid;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_valid CHECK (type IN (
    'ticket_created', 'ticket_assigned', 'ticket_status_changed', 'ticket_closed', 'test_alert',
    'ticket_reply', 'ticket_internal_note', 'password_reset'
));

-- migrate:down
ALTER TABLE notifications DROP CONSTRAINT notifications_type_valid;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_valid
    CHECK (type IN ('ticket_created', 'ticket_assigned', 'ticket_status_changed', 'ticket_closed', 'test_alert'));
