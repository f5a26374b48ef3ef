"""The entry points: the `intake` command, `intake run`'s supervisor, `intake status`.

`main` parses the command line and calls a handler of `commands`; the supervisor starts the
daemons (bundled Redis, Dramatiq workers, reconciler, pollers, HTTP server). Nothing below
this package imports it: it is where the stages are wired together.
"""
