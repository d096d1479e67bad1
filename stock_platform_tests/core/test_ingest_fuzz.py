"""Random frames never crash the FrameHandler, and whatever it cannot deliver as trades is dead-lettered verbatim.

A seeded, hypothesis-free fuzz: valid frames are mutated at the byte level (flips, cuts, splices) and at the
JSON level (values swapped for huge numbers, lone surrogates, deep nesting, wrong types).
"""

from __future__ import annotations

import json
import random
import time

import pytest

from stock_platform.core.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.core.ingest import FrameHandler
from stock_platform.core.kafka_producer import TrackedProducer
from stock_platform_tests.fakes import FakeProducer

NOW_MS = int(time.time() * 1000)
_NASTY_VALUES = [
    10**400,
    -(10**300),
    1e308,
    "\ud800",
    "AAPL\udfff",
    " AAPL",
    "",
    None,
    True,
    [],
    {},
    [[[[[["deep"]]]]]],
    "x" * 10_000,
    float("nan"),
    -1,
    0,
    NOW_MS * 1000,
    ["\udc80"],
]
_NASTY_TEXT = ["[" * 5000, "\\ud800", "1" * 500, "NaN", "-Infinity", "\x00", "\xff", '"', "}", "]]]"]


def _valid_frame(rng: random.Random) -> dict:
    symbols = ["AAPL", "MSFT", "BINANCE:BTCUSDT"]
    return {
        "type": "trade",
        "data": [
            {
                "s": rng.choice(symbols),
                "p": rng.uniform(1, 500),
                "t": NOW_MS - rng.randrange(10_000),
                "v": rng.randrange(100),
                "c": ["1"],
            }
            for _ in range(rng.randrange(1, 6))
        ],
    }


def _json_mutation(rng: random.Random) -> bytes:
    frame = _valid_frame(rng)
    trade = rng.choice(frame["data"])
    target = rng.choice(["s", "p", "t", "v", "c", "type", "data", "trade", "extra"])
    value = rng.choice(_NASTY_VALUES)
    if target == "type":
        frame["type"] = rng.choice([value, "ping", "error", "trade"])
    elif target == "data":
        frame["data"] = value
    elif target == "trade":
        frame["data"][frame["data"].index(trade)] = value
    elif target == "extra":
        frame[rng.choice(["msg", "x"])] = value
    else:
        trade[target] = value
    text = json.dumps(frame, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def _byte_mutation(rng: random.Random) -> bytes:
    raw = bytearray(json.dumps(_valid_frame(rng)).encode())
    for _ in range(rng.randrange(1, 4)):
        operation = rng.randrange(4)
        position = rng.randrange(len(raw) + 1)
        if operation == 0 and raw:
            raw[min(position, len(raw) - 1)] = rng.randrange(256)
        elif operation == 1:
            raw = raw[:position]
        elif operation == 2:
            raw[position:position] = rng.choice(_NASTY_TEXT).encode("utf-8", "surrogatepass")
        else:
            raw[position:position] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return bytes(raw)


@pytest.mark.parametrize("seed", range(3))
def test_random_frames_never_raise_and_every_undelivered_frame_is_dead_lettered_verbatim(seed):
    rng = random.Random(seed)
    fake = FakeProducer()
    handler = FrameHandler(TrackedProducer(fake), "market", "market.dead_letter", source="fuzz")
    dead_letter_codec, batch_codec = DeadLetterCodec(), TradeBatchCodec()
    for _ in range(1500):
        raw = _json_mutation(rng) if rng.random() < 0.5 else _byte_mutation(rng)
        before, pings_before = len(fake.produced), handler.stats.pings
        handler.handle(raw, NOW_MS)
        produced = fake.produced[before:]
        dead_letters = [value for topic, _, value, _ in produced if topic == "market.dead_letter"]
        trades = [value for topic, _, value, _ in produced if topic == "market"]
        if handler.stats.pings > pings_before:
            assert produced == []
            continue
        assert len(dead_letters) <= 1
        for value in dead_letters:
            assert dead_letter_codec.decode(value)["payload"] == raw
        # Only a trade frame without trades may legitimately produce nothing.
        assert dead_letters or trades or json.loads(raw) == {"type": "trade", "data": []}, raw
        for value in trades:
            assert batch_codec.decode(value).trades
    assert handler.stats.dead_letters > 500 and handler.stats.trades > 500
