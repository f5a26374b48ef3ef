"""Routing: pure functions from a normalised complaint to product, kind, unit and queue.

No I/O here: `categorize` reads text and a rule table, `route` reads the unit table from
settings; every decision carries the rules that hit, so it can be explained and stored.
"""
