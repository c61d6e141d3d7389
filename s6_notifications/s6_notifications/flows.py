"""Calls S6 makes to other services: S1 for a recipient's email address (at send time)."""

from __future__ import annotations

from helpdesk_common.service_client import PeerUnavailable, ServiceClient
from s6_notifications.errors import DeliveryError


async def email_address_of(services: ServiceClient, user_id: int) -> str:
    """The user's address from S1 (`GET /users/:id` with the service credential).

    S1 down is a DeliveryError to retry (the email waits, the notify was never refused); a user
    S1 does not know is a permanent one (retrying cannot make them exist)."""
    try:
        response = await services.request("s1-auth", "GET", f"/users/{user_id}")
    except PeerUnavailable as exc:
        raise DeliveryError(f"S1 could not be asked for user {user_id}'s address: {exc.reason}") from exc
    if response.status_code == 404:
        raise DeliveryError(f"User {user_id} does not exist (S1 answered 404); no address to send to.", permanent=True)
    if response.status_code != 200:
        raise DeliveryError(f"S1 answered {response.status_code} when asked for user {user_id}'s address.")
    email = response.json().get("email")
    if not isinstance(email, str) or not email:
        raise DeliveryError(f"S1 gave no email address for user {user_id}.", permanent=True)
    return email
