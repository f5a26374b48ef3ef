"""One rooted error hierarchy, named by what the caller should do.

Permanent errors are the sender's fault (record, don't retry); temporary errors are worth a
retry with backoff; anything else is a bug and goes to the dead letters with the raw item kept.
"""


class IntakeError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(IntakeError):
    """The settings file is wrong; the message names the key."""


class PermanentError(IntakeError):
    """Retrying cannot help (bad input, a recipient the relay refuses): record it."""


class TemporaryError(IntakeError):
    """A passing fault (server down, timeout, 4xx): retry with backoff."""


class NotAnEmail(PermanentError):
    """The bytes handed in are not an RFC 5322 message."""
