"""The web console's routes (see services/gateway/console/: one module per role)."""
from services.gateway.console import render_error, routes  # noqa: F401
