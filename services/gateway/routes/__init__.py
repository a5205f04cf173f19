"""Route modules: one per service (registration, dispatch, notify), plus accounts, Open311
and the web console. Each module exposes `routes`, a RouteGroup; add a module to
`services.gateway.app.ROUTE_MODULES` to serve it."""
