"""``madagents serve``: the tutor chat as a web page, with a run browser (FastAPI, server-sent events)."""
