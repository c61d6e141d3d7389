from pydantic import Field

from helpdesk_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "s8-feedback"
    port: int = 3008
    # The refresh signal to S7: how long one call may take (S7 computes its figures before it
    # answers) and how many times a call that could not be sent is tried again.
    analytics_signal_timeout_seconds: float = Field(default=10.0, gt=0)
    analytics_signal_retries: int = Field(default=2, ge=0, le=10)
