from helpdesk_common.serve import serve
from s8_feedback.settings import Settings

if __name__ == "__main__":
    serve("s8_feedback.main:build_app", Settings())
