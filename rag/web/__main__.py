"""`python -m rag.web [flags]`: the web UI, the same as `rag serve [flags]`."""

import sys

from rag.cli import main

main(["serve", *sys.argv[1:]], prog_name="python -m rag.web")
