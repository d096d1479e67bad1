import pytest

from stock_platform.processing.latency import LatencyRecorder


def test_percentiles_weight_each_message_by_its_trades():
    recorder = LatencyRecorder()
    recorder.record(10_000, [(9_990, 98), (9_000, 1), (0, 50)])
    recorder.record(20_000, [(17_000, 1)])
    assert recorder.count == 100
    assert recorder.percentiles((50, 99, 100)) == {"p50": 10.0, "p99": 1000.0, "p100": 3000.0}
    assert recorder.maximum() == 3000.0


@pytest.mark.parametrize("points", [(50,), (50, 99)])
def test_no_samples_means_no_percentiles(points):
    assert set(LatencyRecorder().percentiles(points).values()) == {None}
