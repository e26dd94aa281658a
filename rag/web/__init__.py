"""The web UI: server.py (FastAPI + Gradio, security, launch), layout.py (the page), handlers.py and
library_tab.py (what each event does), render.py (the HTML). `python app.py`, `python -m rag.web` and
`rag serve` start it."""
