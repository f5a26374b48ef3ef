"""The one clock of the flow: the wall clock unless a test sets another, never naive."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from intake import clock
from intake.clock import FakeClock

START = datetime(2026, 3, 9, 18, 30, tzinfo=timezone(timedelta(hours=3)))


def test_a_fixed_clock_stands_still_until_it_is_set():
    fake = FakeClock(START)
    first = fake()
    time.sleep(0.01)
    assert fake() == first == START and fake().tzinfo == timezone.utc
    fake.set(START + timedelta(hours=25))
    assert fake() - START == timedelta(hours=25)


def test_a_ticking_clock_moves_on_from_its_start():
    fake = FakeClock(START, ticking=True)
    time.sleep(0.02)
    assert timedelta(seconds=0.02) <= fake() - START < timedelta(seconds=5)


def test_the_flow_reads_the_clock_it_is_given_and_gets_the_wall_back():
    previous = clock.use(FakeClock(START))
    try:
        assert clock.now() == START
    finally:
        clock.use(previous)
    clock.use(None)
    try:
        assert abs(clock.now() - clock.wall()) < timedelta(seconds=5)
    finally:
        clock.use(previous)


def test_a_fake_clock_refuses_naive_times():
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 3, 9, 18, 30))
    with pytest.raises(ValueError):
        FakeClock(START).set(datetime(2026, 3, 9))
