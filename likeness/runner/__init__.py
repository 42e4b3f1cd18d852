"""Headless use: an HTTP/WS client for ComfyUI, the `python -m likeness run` command, an embedded server."""
