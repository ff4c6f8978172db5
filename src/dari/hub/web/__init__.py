"""The hub's web portal (FastAPI + Jinja2 + htmx) and REST API."""
