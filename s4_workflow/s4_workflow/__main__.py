from helpdesk_common.serve import serve
from s4_workflow.settings import Settings

if __name__ == "__main__":
    serve("s4_workflow.main:build_app", Settings())
