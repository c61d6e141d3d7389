"""S2 tickets: ticket intake, listing with filters and full-text search, and owner edits."""
