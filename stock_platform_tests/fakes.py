"""Small fakes shared by tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeMessage:
    _topic: str
    _value: bytes
    _key: bytes | None
    _partition: int = 0
    _offset: int = 0

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


class FakeProducer:
    """Records produced messages; acknowledges them on poll/flush, or fails topics listed in `failing_topics`."""

    def __init__(self, failing_topics: tuple[str, ...] = (), buffer_errors: int = 0) -> None:
        self.produced: list[tuple[str, bytes | None, bytes, list]] = []
        self._pending: list[tuple[FakeMessage, object]] = []
        self._failing_topics = failing_topics
        self._buffer_errors = buffer_errors
        self.polls = 0
        self.closed = False

    def produce(self, topic, value, key, headers, on_delivery):
        if self._buffer_errors:
            self._buffer_errors -= 1
            raise BufferError("queue full")
        offset = sum(1 for produced in self.produced if produced[0] == topic)
        self.produced.append((topic, key, value, headers))
        self._pending.append((FakeMessage(topic, value, key, 0, offset), on_delivery))

    def poll(self, timeout):
        self.polls += 1
        pending, self._pending = self._pending, []
        for message, callback in pending:
            callback("broker down" if message.topic() in self._failing_topics else None, message)
        return len(pending)

    def flush(self, timeout):
        self.poll(timeout)
        return 0

    def purge(self):
        self._pending.clear()

    def close(self):
        self.closed = True
        return True

    def on(self, topic):
        return [produced for produced in self.produced if produced[0] == topic]
