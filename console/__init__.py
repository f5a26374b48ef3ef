"""The operators' console: what the desk looks like from the chair.

Pages behind a login (`pages`, on `auth`'s users, sessions and CSRF), the queries they show
(`views`), `/healthz` and `/readyz` (`health`) and Prometheus `/metrics` (`metrics`), all on
the Starlette app of `intake run`'s HTTP server. It reads every stage and acts through
`handling` (the lifecycle) and `ingest` (retries); no stage reads it.
"""
