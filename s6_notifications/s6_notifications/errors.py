"""The one error the delivery side speaks: an attempt that did not deliver, and whether to retry."""

from __future__ import annotations

MAX_ERROR_LENGTH = 1000


class DeliveryError(Exception):
    """An attempt failed. `permanent`: retrying cannot help (an unknown user, a mailbox the server
    says does not exist); otherwise the row is retried with backoff until its retries run out."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message[:MAX_ERROR_LENGTH])
        self.message = message[:MAX_ERROR_LENGTH]
        self.permanent = permanent
