"""Ingest: channels hand in `RawMessage`s; the pipeline stores them raw, then makes complaints."""
