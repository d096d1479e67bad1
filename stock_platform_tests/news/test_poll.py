from dataclasses import dataclass
from datetime import date

import pytest
import responses

from stock_platform.finnhub.rate_limit import RateLimitTimeout
from stock_platform.finnhub.rest import FinnhubRestClient, RestSettings
from stock_platform.finnhub.websocket import FinnhubAuthError
from stock_platform.news.poll import poll_news, poll_symbol
from stock_platform.news.schedule import SymbolWindow
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore

BASE = "http://sim.example/api/v1"
NEWS_URL = f"{BASE}/company-news"
WINDOW = SymbolWindow("AAPL", date(2024, 5, 1), date(2024, 5, 2))


@dataclass(frozen=True)
class WriteCounts:
    new: int
    duplicates: int


class FakeNewsStore:
    """Keeps one row per (symbol, article id), like the real stores."""

    def __init__(self) -> None:
        self.rows = {}
        self.upserts = 0

    def upsert_news(self, articles):
        self.upserts += 1
        new = [article for article in articles if (article.symbol, article.article_id) not in self.rows]
        self.rows.update({(article.symbol, article.article_id): article for article in articles})
        return WriteCounts(new=len(new), duplicates=len(articles) - len(new))


class Limiter:
    def __init__(self, slots: int = 100) -> None:
        self.slots = slots

    def acquire(self) -> None:
        if self.slots == 0:
            raise RateLimitTimeout("no finnhub-rest call slot within 1s")
        self.slots -= 1


def _item(article_id, seconds=1714564800, **overrides):
    return {"id": article_id, "datetime": seconds, "headline": f"story {article_id}", "related": "AAPL", **overrides}


def _client(limiter=None, attempts=1):
    return FinnhubRestClient(RestSettings(base_url=BASE, max_attempts=attempts), limiter or Limiter(), sleep=lambda _: None)


@responses.activate
def test_writes_new_articles_and_counts_repeats_as_duplicates():
    store = FakeNewsStore()
    responses.get(NEWS_URL, json=[_item(1), _item(2, seconds=1714568400), _item(2)])
    responses.get(NEWS_URL, json=[_item(2, seconds=1714568400), _item(3, seconds=1714572000)])
    client = _client()
    first = poll_symbol(client, store, WINDOW)
    second = poll_symbol(client, store, WINDOW)
    assert (first.fetched, first.new, first.duplicates, first.calls) == (3, 2, 1, 1)
    assert first.newest_article_ms == 1714568400000
    assert (second.new, second.duplicates, second.newest_article_ms) == (1, 1, 1714572000000)
    assert sorted(article.article_id for article in store.rows.values()) == [1, 2, 3]


@responses.activate
def test_bad_items_are_reported_not_stored():
    store = FakeNewsStore()
    responses.get(NEWS_URL, json=[_item(1), _item(None)])
    result = poll_symbol(_client(), store, WINDOW)
    assert result.new == 1
    assert result.rejected == ["AAPL item 1 (id None): article id None is not an integer"]


BAD_ITEMS = [
    pytest.param(_item(9, related=5), id="related-number"),
    pytest.param(_item(9, related=["AAPL", 7]), id="related-list-with-number"),
    pytest.param(_item(9, related=[None]), id="related-list-with-null"),
    pytest.param(_item(9, related={"AAPL": 1}), id="related-object"),
    pytest.param(_item(2**63), id="id-beyond-64-bits"),
    pytest.param(_item(str(2**64)), id="id-string-beyond-64-bits"),
    pytest.param(_item(-9), id="id-negative"),
    pytest.param(_item(9.5), id="id-fraction"),
]


@pytest.mark.parametrize("bad", BAD_ITEMS)
@responses.activate
def test_a_bad_item_is_skipped_and_the_rest_lands_on_every_poll(tmp_path, bad):
    """Against the real embedded store, whose 64-bit INTEGER column refuses larger ids."""
    responses.get(NEWS_URL, json=[_item(1), bad, _item(2, seconds=1714568400)])
    responses.get(NEWS_URL, json=[bad, _item(3, seconds=1714572000)])
    client = _client()
    with SqliteMarketStore(EmbeddedStoreSettings(str(tmp_path / "store.sqlite"), synchronous="OFF")) as store:
        first = poll_symbol(client, store, WINDOW)
        second = poll_symbol(client, store, WINDOW)
        stored = {article.article_id for article in store.news_for_symbol("AAPL")}
    assert (first.new, len(first.rejected), second.new, len(second.rejected)) == (2, 1, 1, 1)
    assert first.rejected[0].startswith("AAPL item 1 (id ")
    assert stored == {1, 2, 3}


@responses.activate
def test_an_empty_answer_writes_nothing():
    store = FakeNewsStore()
    responses.get(NEWS_URL, json=[])
    result = poll_symbol(_client(), store, WINDOW)
    assert (result.fetched, result.new, result.newest_article_ms, result.error) == (0, 0, None, None)
    assert store.upserts == 0


@responses.activate
def test_a_failing_symbol_is_reported_and_the_others_still_polled():
    store = FakeNewsStore()
    responses.get(NEWS_URL, status=503)
    responses.get(NEWS_URL, json=[_item(7)])
    other = SymbolWindow("MSFT", date(2024, 5, 1), date(2024, 5, 2))
    failed, polled = poll_news(_client(), store, [WINDOW, other])
    assert failed.error == "Finnhub GET /company-news still answered HTTP 503 after 1 attempts"
    assert failed.calls == 1
    assert (polled.symbol, polled.new, polled.error) == ("MSFT", 1, None)


@responses.activate
def test_a_busy_rate_limit_stops_the_poll_and_reports_the_rest():
    responses.get(NEWS_URL, json=[_item(1)])
    windows = [SymbolWindow(symbol, date(2024, 5, 1), date(2024, 5, 2)) for symbol in ("A", "B", "C")]
    results = poll_news(_client(Limiter(slots=1)), FakeNewsStore(), windows)
    assert [result.error is None for result in results] == [True, False, False]
    assert "no finnhub-rest call slot" in results[1].error
    assert len(responses.calls) == 1


@responses.activate
def test_a_rejected_key_stops_the_poll():
    responses.get(NEWS_URL, status=401)
    with pytest.raises(FinnhubAuthError, match="check FINNHUB_API_KEY"):
        poll_news(_client(), FakeNewsStore(), [WINDOW, WINDOW])
    assert len(responses.calls) == 1
