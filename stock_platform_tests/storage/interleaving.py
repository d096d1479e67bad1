"""A store wrapper that lets the stream write in the middle of a reconcile."""

from collections.abc import Callable
from typing import Any

from stock_platform.storage.base import MarketStore


class StreamWritesDuring:
    """Delegates to `store`; the first call of `method` runs `stream` (writes through the unwrapped
    store) right `when` ("before" or "after") it, as if the stream had been scheduled in between."""

    def __init__(self, store: MarketStore, method: str, when: str, stream: Callable[[], object]) -> None:
        self._store = store
        self._method = method
        self._when = when
        self._stream = stream
        self.fired = False

    def _stream_writes(self) -> None:
        if not self.fired:
            self.fired = True
            self._stream()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name != self._method:
            return attribute

        def interleaved(*args: Any, **kwargs: Any) -> Any:
            if self._when == "before":
                self._stream_writes()
            result = attribute(*args, **kwargs)
            if self._when == "after":
                self._stream_writes()
            return result

        return interleaved
