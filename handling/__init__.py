"""Handling: what the desk does with a complaint once it is in (ISO 10002).

The lifecycle's verbs (`actions`, on the pure machine of `intake.lifecycle`), who may speak
for a complaint (`speakers`), a unit's mail commands and a complainant's answers
(`inbound`), the clocks kept in the store (`clocks`, on the pure `routing.clocks`), the
notices owed (`notices`, with their words in `texts`) and the scheduler's pass
(`scheduler`). Below ingest, which hands it what comes back; above the outbound stage,
which sends what it owes.
"""
