"""The analyst page served by ``mediawatch serve`` (see mediawatch.web.app)."""
