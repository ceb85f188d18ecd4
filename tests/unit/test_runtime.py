"""The worker's garbage-collector settings: thresholds parsed strictly, freezing after startup."""

import gc
from contextlib import asynccontextmanager

import pytest

from entrypoints import runtime
from entrypoints.settings import Settings


@pytest.mark.parametrize(("text", "parsed"), [("default", ()), ("", ()), (" 50000 ", (50000,)),
                                              ("50000,20", (50000, 20)),
                                              ("50000,20,30", (50000, 20, 30))])
def test_thresholds_are_parsed(text: str, parsed: tuple[int, ...]) -> None:
    assert runtime.parse_threshold(text) == parsed


@pytest.mark.parametrize("text", ["0", "1,2,3,4", "-5", "x"])
def test_bad_thresholds_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        runtime.parse_threshold(text)


def test_the_setting_refuses_what_the_parser_would() -> None:
    with pytest.raises(ValueError):
        Settings(gc_threshold="1,2,3,4")
    assert Settings().gc_freeze is True and Settings().gc_threshold == "default"


def test_tuning_keeps_the_thresholds_not_given() -> None:
    before = gc.get_threshold()
    try:
        runtime.tune_collector((before[0] + 1,))
        assert gc.get_threshold() == (before[0] + 1, *before[1:])
        runtime.tune_collector(())
        assert gc.get_threshold() == (before[0] + 1, *before[1:])
    finally:
        gc.set_threshold(*before)


async def test_what_is_alive_after_startup_is_frozen() -> None:
    events = []

    @asynccontextmanager
    async def lifespan(app: object):  # type: ignore[no-untyped-def]
        events.append("started")
        yield {"state": 1}
        events.append("stopped")

    frozen_before = gc.get_freeze_count()
    try:
        async with runtime.freezing_after_startup(lifespan)(object()) as state:
            assert events == ["started"] and state == {"state": 1}
            assert gc.get_freeze_count() > frozen_before
        assert events == ["started", "stopped"]
    finally:
        gc.unfreeze()
