"""The read API: a Starlette app composed from route modules (see ``od.api.app``)."""
