from helpdesk_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "s2-tickets"
    port: int = 3002
