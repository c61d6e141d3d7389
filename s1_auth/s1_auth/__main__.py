from helpdesk_common.serve import serve
from s1_auth.settings import Settings

if __name__ == "__main__":
    serve("s1_auth.main:build_app", Settings())
