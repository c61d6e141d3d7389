from helpdesk_common.serve import serve
from s3_registry.settings import Settings

if __name__ == "__main__":
    serve("s3_registry.main:build_app", Settings())
