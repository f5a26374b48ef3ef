"""intake: multichannel complaint ingestion for an ISO 10002 complaint desk.

The stages live in their own top-level packages (`ingest`, `normalize`, `routing`, `store`,
`outbound`); this package is the kernel they all stand on (`schema`, `settings`, `errors`,
`states`, `clock`, `privacy`, `runtime`) and, in `intake.cli`, the entry points that wire them.
"""

__version__ = "0.1.0"
