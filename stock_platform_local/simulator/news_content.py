"""Words the simulated company news is made of: company names, peer groups, sources and templates."""

from __future__ import annotations

COMPANY_NAMES: dict[str, str] = {
    "AAPL": "Apple",
    "MSFT": "Microsoft",
    "AMZN": "Amazon",
    "GOOGL": "Alphabet",
    "GOOG": "Alphabet",
    "META": "Meta Platforms",
    "NVDA": "Nvidia",
    "TSLA": "Tesla",
    "NFLX": "Netflix",
    "ADBE": "Adobe",
    "INTC": "Intel",
    "AMD": "AMD",
    "ORCL": "Oracle",
    "CRM": "Salesforce",
    "CSCO": "Cisco",
    "QCOM": "Qualcomm",
    "AVGO": "Broadcom",
    "TXN": "Texas Instruments",
    "IBM": "IBM",
    "PYPL": "PayPal",
    "UBER": "Uber",
    "JPM": "JPMorgan Chase",
    "V": "Visa",
    "WMT": "Walmart",
    "DIS": "Disney",
    "BINANCE:BTCUSDT": "Bitcoin",
    "BINANCE:ETHUSDT": "Ether",
    "BINANCE:SOLUSDT": "Solana",
    "COINBASE:BTC-USD": "Bitcoin",
    "COINBASE:ETH-USD": "Ether",
}

# Articles about several symbols come from these groups (a symbol may sit in one group only).
PEER_GROUPS: tuple[tuple[str, ...], ...] = (
    ("AAPL", "MSFT", "GOOGL", "AMZN", "META"),
    ("NVDA", "AMD", "INTC", "QCOM", "AVGO", "TXN"),
    ("ADBE", "CRM", "ORCL", "IBM", "CSCO"),
    ("TSLA", "UBER"),
    ("NFLX", "DIS"),
    ("PYPL", "V", "JPM"),
    ("BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "BINANCE:SOLUSDT"),
)

SOURCES = ("Yahoo", "Reuters", "MarketWatch", "SeekingAlpha", "CNBC", "Benzinga", "Finnhub", "Bloomberg")

COMPANY_HEADLINES = (
    "{name} shares rise after analyst upgrade",
    "{name} announces new share buyback program",
    "What to watch as {name} heads into earnings",
    "{name} expands partnership in cloud computing",
    "Is {name} stock a buy after the latest pullback?",
    "{name} faces fresh regulatory scrutiny in Europe",
    "{name} unveils its new product lineup",
    "{name} chief executive outlines AI strategy at investor conference",
    "Options traders bet on a big move in {name}",
    "{name} stock slips as the sector cools",
    "{name} raises full-year guidance",
    "Institutional investors add to {name} positions",
)

CRYPTO_HEADLINES = (
    "{name} climbs as ETF inflows continue",
    "{name} slides as traders take profits",
    "{name} volatility jumps ahead of macro data",
    "Whales move large {name} holdings to exchanges",
    "{name} network activity hits a monthly high",
    "Analysts see key support level for {name}",
)

GROUP_HEADLINES = (
    "{names} lead the market higher",
    "{names} retreat as yields climb",
    "Earnings season: what to expect from {names}",
    "Funds rotate into {names}",
    "{names} in focus after sector-wide regulatory news",
)

SUMMARIES = (
    "{name} drew attention on {day} as investors weighed the latest developments. "
    "Analysts said the news could shape expectations for the coming quarters.",
    "Trading in {name} picked up on {day}. Market participants pointed to recent guidance "
    "and broader sector moves as the main drivers.",
    "On {day}, {name} was among the most discussed names. Commentators highlighted valuation, "
    "growth prospects and competitive pressure.",
)
