from helpdesk_common.serve import serve
from s2_tickets.settings import Settings

if __name__ == "__main__":
    serve("s2_tickets.main:build_app", Settings())
