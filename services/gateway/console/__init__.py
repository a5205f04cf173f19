"""The web console (网页控制台): every role's pages, in Simplified Chinese, server-rendered and
usable on a phone, in Beijing time. `kit` is the framework (templates, filters, names, flash
messages, the CSRF guard, forms through the API's handlers); each role has its own module.

Every action goes through the same API route handler as the JSON API (its roles, scope checks
and the service's schema), so the console can do nothing the API would refuse."""
from services.gateway.console import (  # noqa: F401
    common, community, district, evaluation, funds, member, orders, resident, unit,
)
from services.gateway.console import department  # noqa: F401,E402
from services.gateway.console.kit import render_error, routes  # noqa: F401
