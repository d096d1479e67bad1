import threading

from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.window import WindowTicker


def test_ticker_reports_once_per_interval_and_ends_the_window():
    now = [0.0]
    reports = []
    stop = threading.Event()
    ticker = WindowTicker(StreamStats("light", clock=lambda: now[0]), stop, reports.append, 30, 100, clock=lambda: now[0])
    for moment in (10, 31, 45, 62, 80):
        now[0] = moment
        ticker()
    assert len(reports) == 2 and not stop.is_set()
    now[0] = 100
    ticker()
    assert stop.is_set() and len(reports) == 3
    ticker.final_report()
    assert len(reports) == 4 and reports[-1]["engine"] == "light"
