from helpdesk_common.serve import serve
from s6_notifications.settings import Settings

if __name__ == "__main__":
    serve("s6_notifications.main:build_app", Settings())
