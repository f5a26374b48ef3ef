"""Outbound: the stage after routing — jobs on the queues, and the mail and messages they send.

`jobs` puts work on the unit queues (only ids, only after the commit); `delivery` is what the
workers do with it; `compose` builds the mails (pure); `smtp` and `channels` send them, by
e-mail or on the complainant's own channel; `broker` holds the retry and dead-letter policy.
"""
