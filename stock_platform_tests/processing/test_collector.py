"""The engines' hot loops run with the objects from before them left out of garbage collections."""

import gc
import threading
from contextlib import nullcontext

import pytest

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing import processor
from stock_platform.processing.collector import collector_paused, heap_frozen
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings


@pytest.mark.parametrize("fails", [False, True])
def test_the_heap_is_frozen_for_the_block_and_thawed_however_it_ends(fails):
    frozen = []
    with pytest.raises(RuntimeError) if fails else nullcontext():
        with heap_frozen():
            frozen.append(gc.get_freeze_count() > 0)
            if fails:
                raise RuntimeError("the loop failed")
    assert frozen == [True]
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_for_the_block_and_left_as_it_was(enabled):
    (gc.enable if enabled else gc.disable)()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() == enabled
    finally:
        gc.enable()


def test_the_light_engine_runs_with_the_heap_frozen(monkeypatch):
    seen = []
    monkeypatch.setattr(LightEngine, "run", lambda self, stop, on_tick: seen.append(gc.get_freeze_count() > 0))

    processor.run_light(KafkaSettings("localhost:9"), LightEngineSettings(), lambda symbol, ms: None, None, threading.Event(), lambda: None)

    assert seen == [True]
    assert gc.get_freeze_count() == 0
