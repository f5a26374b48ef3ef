"""Reports: what the desk tells management and auditors, read from the store.

Each module builds one report from the append-only events (and the mails recorded as
sent), never from the mutable status columns alone, so that the report says what happened.
It reads every stage below the entry points; no stage reads it (only the command line).
"""
