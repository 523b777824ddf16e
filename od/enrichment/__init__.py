"""Enrichment workers: short links for vehicle pages, dealer geocoding, IndexNow pings.

Each is an idempotent JetStream consumer (``od worker --only shortlinks|geocoder|indexnow``)
that never slows ingestion: it reads the projections' change events, calls an external API
at that API's pace, retries with backoff, and dead-letters what cannot succeed.
"""
