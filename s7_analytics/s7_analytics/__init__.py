"""S7 analytics: cached helpdesk figures for staff."""
