"""S5 media: ticket attachments, streamed, sniffed and authorized."""
