"""Shared by the aggregation and storage tests: bar comparison and at-least-once Kafka delivery."""

import math
from dataclasses import asdict


def assert_same_bars(expected, actual):
    assert expected.keys() == actual.keys()
    for key in expected:
        want, got = asdict(expected[key]), asdict(actual[key])
        for name in ("volume", "notional"):
            assert math.isclose(want.pop(name), got.pop(name), rel_tol=1e-12), (key, name)
        assert want == got, key


def deliveries(rng, rows):
    """Messages in Kafka order with restarts from an earlier offset, cut into batches at message boundaries."""
    messages = {}
    for row in rows:
        messages.setdefault((row.kafka_offset, row.kafka_partition), []).append(row)
    ordered = [messages[key] for key in sorted(messages)]
    batches, position = [], 0
    while position < len(ordered):
        size = rng.randint(1, 12)
        batch = [row for message in ordered[position : position + size] for row in message]
        if rng.random() < 0.3 and batches:
            batch = batches[-1] + batch  # an at-least-once restart re-delivers the previous batch too
        rng.shuffle(batch)
        batches.append(batch)
        position += size
    return batches
