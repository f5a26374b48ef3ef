"""The Dramatiq workers' module: `dramatiq workers` loads it (and `intake run` starts that).

It builds this process's runtime and broker from the settings (and `INTAKE_BROKER_URL`,
`INTAKE_STORE_URL`, which `intake run` sets for its workers) and loads every channel, so the
outbound actors can answer on each. The actors are one per `outbound.jobs.Job`: `ticket` and
`followup` run on the queue of the complaint's unit, `ack` on `ack`, a `notice` on its
audience's (the complainant's on `ack`, a unit's on the unit's). Only ids travel.
"""

from __future__ import annotations

import dramatiq

from intake import runtime, settings
from intake.cli.wiring import broker_url, runtime_for
from intake.privacy import install_masking
from outbound.broker import make_broker
from outbound.jobs import Job

install_masking()
_runtime = runtime.current() or runtime_for(settings.load())
runtime.install(_runtime)
broker = _runtime.broker or make_broker(_runtime.settings, broker_url(_runtime.settings))
_runtime.broker = broker
dramatiq.set_broker(broker)

ticket, ack, followup, notice = (broker.get_actor(job) for job in Job)
