"""Calls S6 makes to other services: S1 for recipients' email addresses (at send time)."""

from __future__ import annotations

from collections.abc import Sequence

from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from s6_notifications.errors import DeliveryError

# S1 answers at most this many ids per `GET /users?ids=` call.
IDS_PER_CALL = 200


async def email_addresses_of(services: ServiceClient, user_ids: Sequence[int]) -> dict[int, str]:
    """The addresses of `user_ids` from S1, one `GET /users?ids=...` (service credential) per
    200 of them: a batch of emails to many people costs S1 one request, not one each. A user
    S1 does not know (or knows without an address) is absent from the answer: the caller
    fails their emails for good, since retrying cannot make them exist.

    S1 down, or answering anything but 200, is a DeliveryError to retry (the emails wait; the
    notify was never refused)."""
    found: dict[int, str] = {}
    for start in range(0, len(user_ids), IDS_PER_CALL):
        part = user_ids[start : start + IDS_PER_CALL]
        ids = ",".join(str(user_id) for user_id in part)
        try:
            response = await services.request("s1-auth", "GET", "/users", params={"ids": ids, "limit": str(len(part))})
        except PeerUnavailable as exc:
            raise DeliveryError(f"S1 could not be asked for the recipients' addresses: {exc.reason}") from exc
        if response.status_code != 200:
            raise DeliveryError(f"S1 answered {response.status_code} when asked for the recipients' addresses.")
        try:
            users = response.json()["users"]
            for user in users:
                if isinstance(user["id"], int) and isinstance(user["email"], str) and user["email"]:
                    found[user["id"]] = user["email"]
        except (ValueError, KeyError, TypeError):
            raise DeliveryError("S1 answered the address lookup with a body that is not a page of users.") from None
    return found


def unknown_recipient(user_id: int) -> DeliveryError:
    return DeliveryError(
        f"User {user_id} does not exist (S1 does not know them); no address to send to.", permanent=True
    )
