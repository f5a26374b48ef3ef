"""Store: the source of truth. SQLAlchemy models, sessions, references, watermarks.

Raw messages are kept byte for byte before anything else happens to them; complaints, their
attachments (content-addressed blobs), routing decisions and an append-only event log follow.
"""
