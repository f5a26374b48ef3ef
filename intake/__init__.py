"""intake: multichannel complaint ingestion for an ISO 10002 complaint desk.

The stages live in their own top-level packages (`ingest`, `normalize`, `routing`, `store`,
`workers`); this package holds what they share: the schema, settings, errors, the CLI.
"""

__version__ = "0.1.0"
