import pytest

from stock_platform.event_time import EventTimeRange


def test_empty_range_reports_no_event_times() -> None:
    event_times = EventTimeRange()
    assert (event_times.first_ms, event_times.last_ms) == (None, None)


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([[5]], (5, 5)),
        ([[7, 3, 9]], (3, 9)),
        ([[5, 6], [2], [8, 4]], (2, 8)),
        ([[5, 6], []], (5, 6)),
    ],
)
def test_range_widens_to_cover_every_batch(batches: list[list[int]], expected: tuple[int, int]) -> None:
    event_times = EventTimeRange()
    for times in batches:
        event_times.add(times)
    assert (event_times.first_ms, event_times.last_ms) == expected
