"""`python app.py [flags]` (`make run`): the web UI, the same as `rag serve [flags]` (rag/web/server.py)."""

import sys

from rag.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]], prog_name="app.py")
