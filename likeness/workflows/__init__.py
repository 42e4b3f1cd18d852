"""Shipped workflows: described once in code (`shipped`), rendered to UI and API format (`build`)."""
