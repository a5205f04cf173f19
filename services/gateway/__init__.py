"""The HTTP gateway (网关): JSON API, Open311 intake and the web console, over nameko RPC."""
