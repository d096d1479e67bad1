import pytest

from stock_platform.news.articles import parse_article, parse_company_news, parse_related


def _item(**overrides):
    item = {
        "category": "company",
        "datetime": 1714564800,
        "headline": "Apple beats estimates",
        "id": 127530000,
        "image": "https://img.example/1.png",
        "related": "AAPL",
        "source": "Reuters",
        "summary": "Quarterly results.",
        "url": "https://news.example/1",
    }
    item.update(overrides)
    return item


def test_parses_every_field_with_publication_time_in_utc_milliseconds():
    article = parse_article("AAPL", _item(related="AAPL,MSFT"))
    assert article.symbol == "AAPL"
    assert article.article_id == 127530000
    assert article.published_at_ms == 1714564800000  # 2024-05-01T12:00:00Z
    assert (article.headline, article.summary, article.source) == ("Apple beats estimates", "Quarterly results.", "Reuters")
    assert (article.url, article.image, article.category) == ("https://news.example/1", "https://img.example/1.png", "company")
    assert article.related == ("AAPL", "MSFT")


def test_fractional_seconds_keep_their_milliseconds():
    assert parse_article("AAPL", _item(datetime=1714564800.25)).published_at_ms == 1714564800250


@pytest.mark.parametrize(
    ("related", "expected"),
    [
        ("AAPL", ("AAPL",)),
        ("AAPL, MSFT ,,GOOGL", ("AAPL", "MSFT", "GOOGL")),
        ("AAPL,AAPL", ("AAPL",)),
        ("", ()),
        (None, ()),
        (["AAPL", " TSLA"], ("AAPL", "TSLA")),
    ],
)
def test_related_symbols_are_kept_as_a_tuple(related, expected):
    assert parse_related(related) == expected


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_optional_text_becomes_empty(missing):
    article = parse_article("AAPL", _item(image=missing, summary=missing, category=missing))
    assert (article.image, article.summary, article.category) == ("", "", "")


def test_numeric_string_id_is_accepted():
    assert parse_article("AAPL", _item(id="42")).article_id == 42


def test_largest_64_bit_id_is_accepted():
    assert parse_article("AAPL", _item(id=2**63 - 1)).article_id == 2**63 - 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id": None}, "article id None is not an integer"),
        ({"id": "abc"}, "article id 'abc' is not an integer"),
        ({"id": True}, "not an integer"),
        ({"id": 0}, "not positive"),
        ({"datetime": None}, "not a unix timestamp"),
        ({"datetime": "2024-05-01"}, "not a unix timestamp"),
        ({"datetime": 0}, "not a positive unix timestamp"),
        ({"datetime": 1714564800000}, "looks like milliseconds"),
        ({"headline": "  "}, "headline is empty"),
        ({"id": -3}, "not positive"),
        ({"id": 1.5}, "article id 1.5 is not an integer"),
        ({"id": 2**63}, "does not fit in 64 bits"),
        ({"id": str(2**64)}, "does not fit in 64 bits"),
        ({"related": 5}, "related 5 is neither"),
        ({"related": True}, "related True is neither"),
        ({"related": {"AAPL": 1}}, "is neither a comma-separated string nor a list of strings"),
        ({"related": [None]}, "is neither a comma-separated string nor a list of strings"),
        ({"related": ["AAPL", 7]}, "is neither a comma-separated string nor a list of strings"),
    ],
)
def test_bad_items_are_refused_with_the_reason(overrides, reason):
    with pytest.raises(ValueError, match=reason):
        parse_article("AAPL", _item(**overrides))


def test_company_news_keeps_good_items_and_reports_bad_ones():
    parsed = parse_company_news("AAPL", [_item(id=1), _item(id=None), "junk", _item(id=2)])
    assert [article.article_id for article in parsed.articles] == [1, 2]
    assert parsed.rejected == [
        "AAPL item 1 (id None): article id None is not an integer",
        "AAPL item 2 (id None): item is a str, not an object",
    ]


def test_an_id_repeated_in_one_answer_is_kept_once():
    parsed = parse_company_news("AAPL", [_item(id=1), _item(id=1, headline="again"), _item(id=2)])
    assert [article.article_id for article in parsed.articles] == [1, 2]
    assert parsed.articles[0].headline == "Apple beats estimates"
    assert parsed.repeated_in_response == 1
