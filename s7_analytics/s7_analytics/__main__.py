from helpdesk_common.serve import serve
from s7_analytics.settings import Settings

if __name__ == "__main__":
    serve("s7_analytics.main:build_app", Settings())
