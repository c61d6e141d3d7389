from helpdesk_common.serve import serve
from s5_media.settings import Settings

if __name__ == "__main__":
    serve("s5_media.main:build_app", Settings())
