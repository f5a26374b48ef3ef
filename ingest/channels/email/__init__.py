"""E-mail as a channel: raw RFC 5322 bytes from an MTA hand-off (`intake inject`) or IMAP.

`raw` keys mail by its Message-ID; `imap` is one connection to one folder; `poller` is the
feed of each folder of every enabled `[[mailbox]]`. Mail from a mailbox with
`channel = "email_ssl"` is the SSL certificate problem address (24 h clock). Both channels
are answered by e-mail.
"""

from __future__ import annotations

from ingest.channels import ChannelSpec, register
from ingest.channels.email.poller import feeds

register(ChannelSpec("email", feeds=feeds))  # every mailbox, whichever its channel
register(ChannelSpec("email_ssl"))
