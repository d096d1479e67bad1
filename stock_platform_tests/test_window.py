import threading

from stock_platform.window import WindowTicker


def test_ticker_reports_once_per_interval_and_ends_the_window():
    now = [0.0]
    reports = []
    stop = threading.Event()
    ticker = WindowTicker(lambda: f"report at {now[0]:.0f}", stop, reports.append, 30, 100, clock=lambda: now[0])
    for moment in (10, 31, 45, 62, 80):
        now[0] = moment
        ticker()
    assert reports == ["report at 31", "report at 62"] and not stop.is_set()
    now[0] = 100
    ticker()
    assert stop.is_set() and reports[-1] == "report at 100"
    ticker.final_report()
    assert len(reports) == 4


def test_ticker_without_a_window_never_stops():
    now = [0.0]
    stop = threading.Event()
    ticker = WindowTicker(lambda: None, stop, lambda report: None, 30, clock=lambda: now[0])
    now[0] = 1e9
    ticker()
    assert not stop.is_set()
