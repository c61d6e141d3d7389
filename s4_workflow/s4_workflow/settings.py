from helpdesk_common.outbox import OutboxSettings


class Settings(OutboxSettings):
    """S4's settings: the shared ones, and the outbox relay's (helpdesk_common.outbox), which
    delivers the notifications changes wrote to `workflow_outbox` to S6."""

    service_name: str = "s4-workflow"
    port: int = 3004
