from gateway.settings import Settings
from helpdesk_common.serve import serve

if __name__ == "__main__":
    serve("gateway.main:build_app", Settings())
