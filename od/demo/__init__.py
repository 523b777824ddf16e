"""``od demo``: the whole product on one machine, from nothing but Python.

Embedded NATS and PostgreSQL (or ``OD_NATS_URL`` / ``OD_DATABASE_URL``), local sample sources
serving the project's own feeds, the sample dealers published through the admin path, one full
scheduler cycle through the real fetchers, projectors and enrichment, then the API.
"""
