"""S4 workflow: ticket status, priority and assignment with history, and the queue."""
