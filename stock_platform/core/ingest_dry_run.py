"""Ingest dry run: the real frame handling and validation, with a producer that counts instead of sending.

Per interval: trades, messages and dead letters as the ingest would produce them, dead-letter reasons grouped
by rule and counted, and a sample of raw frames. Nothing here talks to Kafka.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import websocket

from stock_platform.core.avro_codec import DeadLetterCodec
from stock_platform.core.finnhub_ws import FinnhubAuthError, FinnhubStream, StreamSettings
from stock_platform.core.ingest import FrameHandler
from stock_platform.core.ingest_runner import WindowSettings, run_ingest_window
from stock_platform.core.kafka_producer import TrackedProducer
from stock_platform.core.validation import TradeValidator

COUNTS = ("frames", "trades", "messages", "dead_letters", "rejected_trades", "pings", "finnhub_errors", "reconnects")
_SHOWN_CHARS = 200
_SLIVER_S = 1.0
_MAX_GROUPS = 50
_OTHER_RULE = "(other reasons)"
_TRADES_REJECTED = re.compile(r"^\d+ of \d+ trades rejected: ")
# "AAPL: price -1.0 is not a number in (0, 1e+09]" -> "price is not a number in (0, 1e+09]": the symbol and the
# quoted value differ per trade, the rule does not. A reason of another shape is grouped by its whole text.
_TRADE_RULE = re.compile(r"^(?:.*?: )?(?P<field>symbol|price|volume|timestamp|conditions) .*? (?P<rule>(?:is|are) .*)$")
# Parser positions and exception details make every such reason unique; the part before them is the rule.
_CUT_AT_COLON = ("not valid JSON: ", "unexpected ")
_TRUNCATION_NOTE = re.compile(r" \[frame of \d+ bytes truncated to fit .*\]$")


class EndpointUnreachableError(RuntimeError):
    """The websocket endpoint could not be reached at all (one-line message, no token)."""


def shown(raw: str | bytes, limit: int = _SHOWN_CHARS) -> str:
    """A raw frame as printable text, cut to `limit` characters with its full size noted."""
    payload = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    text = payload.decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(payload)} bytes)"


def trade_rule(reason: str) -> str:
    """The validation rule a trade broke, without the symbol and value that vary."""
    match = _TRADE_RULE.match(reason)
    return f"{match['field']} {match['rule']}" if match else reason


def frame_rule(reason: str) -> str:
    """The rule of a frame-level dead letter (malformed JSON, Finnhub error frame, unknown type, ...)."""
    reason = _TRUNCATION_NOTE.sub("", reason)
    return reason.split(": ", 1)[0] if reason.startswith(_CUT_AT_COLON) else reason


@dataclass
class ReasonCount:
    """One group of dead-letter reasons: `count` trades (kind `trade`) or frames (kind `frame`)."""

    kind: str
    rule: str
    count: int
    example: str
    frame: str


@dataclass
class IntervalReport:
    """What one interval (or, with `final`, the whole run) saw."""

    number: int
    elapsed_seconds: float
    interval_seconds: float
    counts: dict[str, int]
    reasons: list[ReasonCount] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    final: bool = False

    def trades_per_second(self) -> float:
        return round(self.counts["trades"] / max(self.interval_seconds, 1e-9), 1)

    def as_json(self) -> str:
        """One JSON line for machines."""
        document = {
            "type": "summary" if self.final else "interval",
            "intervals" if self.final else "interval": self.number,
            "elapsed_seconds": self.elapsed_seconds,
            "seconds": self.interval_seconds,
            **self.counts,
            "trades_per_second": self.trades_per_second(),
            "dead_letter_reasons": [asdict(group) for group in self.reasons],
        }
        if not self.final:
            document["samples"] = self.samples
        return json.dumps(document)

    def as_text(self) -> str:
        """A few lines for people: counts, then reasons, then samples."""
        counts = self.counts
        head = "summary" if self.final else f"interval {self.number}"
        lines = [
            f"{head} ({self.interval_seconds:.1f} s): trades {counts['trades']:,} ({self.trades_per_second():,.1f}/s), "
            f"messages {counts['messages']:,}, frames {counts['frames']:,}, dead letters {counts['dead_letters']:,} "
            f"(rejected trades {counts['rejected_trades']:,}), pings {counts['pings']:,}, reconnects {counts['reconnects']:,}"
        ]
        for group in self.reasons:
            lines.append(f"  {group.count:>6,} {group.kind}{'s' if group.count != 1 else ' '}  {group.rule}")
            lines.append(f"           e.g. {group.example}  in frame {group.frame}")
        lines.extend(f"  sample  {sample}" for sample in self.samples)
        if self.final:
            lines.append("nothing was sent to Kafka (dry run)")
        return "\n".join(lines)


class DryRunRecorder:
    """Groups dead-letter reasons and samples raw frames, per interval and over the whole run."""

    def __init__(self, dead_letter_topic: str, samples: int, rng: random.Random | None = None) -> None:
        self._dead_letter_topic = dead_letter_topic
        self._samples = samples
        self._rng = rng or random.Random()
        self._codec = DeadLetterCodec()
        self._current: str | bytes = b""
        self._interval: dict[tuple[str, str], ReasonCount] = {}
        self._run: dict[tuple[str, str], ReasonCount] = {}
        self._reservoir: list[str | bytes] = []
        self._seen = 0

    def frame(self, raw: str | bytes) -> None:
        """Note a frame before it is handled (reservoir sampling: every frame equally likely to be shown)."""
        self._current = raw
        self._seen += 1
        if len(self._reservoir) < self._samples:
            self._reservoir.append(raw)
        elif self._samples and (slot := self._rng.randrange(self._seen)) < self._samples:
            self._reservoir[slot] = raw

    def trade_rejected(self, reason: str) -> None:
        self._add("trade", trade_rule(reason), reason, self._current)

    def produced(self, topic: str, value: bytes) -> None:
        """A message the handler would have sent; dead letters are decoded for their reason."""
        if topic != self._dead_letter_topic:
            return
        letter = self._codec.decode(value)
        # Rejected trades are already counted one by one, with their own reasons, by the validator.
        if not _TRADES_REJECTED.match(letter["reason"]):
            self._add("frame", frame_rule(letter["reason"]), letter["reason"], letter["payload"])

    def _add(self, kind: str, rule: str, reason: str, raw: str | bytes) -> None:
        for groups in (self._interval, self._run):
            key = (kind, rule)
            if key not in groups and len(groups) >= _MAX_GROUPS:
                key = (kind, _OTHER_RULE)  # a feed with a new reason per frame must not grow this without bound
            group = groups.get(key)
            if group is None:
                groups[key] = ReasonCount(kind, key[1], 1, shown(reason), shown(raw))
            else:
                group.count += 1

    def drain(self) -> tuple[list[ReasonCount], list[str]]:
        """This interval's reason groups (most frequent first) and samples; starts the next interval."""
        reasons = sorted(self._interval.values(), key=lambda group: -group.count)
        samples = [shown(raw) for raw in self._reservoir]
        self._interval, self._reservoir, self._seen = {}, [], 0
        return reasons, samples

    def run_reasons(self) -> list[ReasonCount]:
        return sorted(self._run.values(), key=lambda group: -group.count)


class RecordingProducer:
    """A ProducerLike that hands every message to a callback and counts it; it never contacts Kafka."""

    def __init__(self, on_message: Callable[[str, bytes], None]) -> None:
        self._on_message = on_message
        self.messages: Counter[str] = Counter()

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, on_delivery: Any) -> None:
        self.messages[topic] += 1
        self._on_message(topic, value)

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0

    def purge(self) -> None:
        return None

    def close(self) -> bool:
        return True


class RecordingValidator(TradeValidator):
    """The ingest's validator, reporting each rejected trade's reason to the recorder."""

    def __init__(self, recorder: DryRunRecorder) -> None:
        super().__init__()
        self._recorder = recorder

    def problem(self, trade: Any, now_ms: int | None = None) -> str | None:
        reason = super().problem(trade, now_ms)
        if reason is not None:
            self._recorder.trade_rejected(reason)
        return reason


class SamplingFrameHandler(FrameHandler):
    """The ingest's FrameHandler, showing each raw frame to the recorder first."""

    def __init__(self, recorder: DryRunRecorder, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder = recorder

    def handle(self, raw: str | bytes, received_at_ms: int | None = None) -> None:
        self._recorder.frame(raw)
        super().handle(raw, received_at_ms)


class FailFastStream(FinnhubStream):
    """FinnhubStream that gives up when its first connection fails: a dry run reports that, it does not retry.

    After one connection succeeded, drops are retried with backoff exactly as in the ingest.
    """

    def _connect(self) -> websocket.WebSocket:
        try:
            return super()._connect()
        except FinnhubAuthError:
            raise
        except (OSError, websocket.WebSocketException) as error:
            if self.connections:
                raise
            # websocket-client appends the response headers and body after " -+-+- ": one line is enough.
            detail = f"{type(error).__name__}: {error}".split(" -+-+- ")[0]
            message = f"cannot connect to {public_url(self._settings.url)} ({detail})"
            raise EndpointUnreachableError(redact(message, self._settings.token)) from None


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def public_url(url: str) -> str:
    """The URL without its query string, where Finnhub carries the token."""
    return url.split("?", 1)[0]


class IntervalCounter:
    """Turns running totals into per-interval reports."""

    def __init__(self, recorder: DryRunRecorder, clock: Callable[[], float] = time.monotonic) -> None:
        self._recorder = recorder
        self._clock = clock
        self._started = self._previous_at = clock()
        self._previous = dict.fromkeys(COUNTS, 0)
        self._totals = dict.fromkeys(COUNTS, 0)
        self.intervals = 0

    def interval(self, totals: dict[str, Any]) -> IntervalReport | None:
        """The report since the previous one; None for a frameless sliver (a window ending just after a report)."""
        now = self._clock()
        if int(totals.get("frames", 0)) == self._previous["frames"] and now - self._previous_at < _SLIVER_S:
            return None
        self._totals = {name: int(totals.get(name, 0)) for name in COUNTS}
        counts = {name: self._totals[name] - self._previous[name] for name in COUNTS}
        reasons, samples = self._recorder.drain()
        self.intervals += 1
        report = IntervalReport(
            self.intervals, round(now - self._started, 3), round(now - self._previous_at, 3), counts, reasons, samples
        )
        self._previous, self._previous_at = self._totals, now
        return report

    def summary(self) -> IntervalReport:
        elapsed = round(self._clock() - self._started, 3)
        return IntervalReport(self.intervals, elapsed, elapsed, dict(self._totals), self._recorder.run_reasons(), final=True)


@dataclass
class DryRun:
    """The pieces of one dry run, wired like the ingest's."""

    stream: FailFastStream
    handler: SamplingFrameHandler
    producer: TrackedProducer
    recording: RecordingProducer
    recorder: DryRunRecorder
    counter: IntervalCounter


def build_dry_run(
    settings: StreamSettings,
    source: str,
    samples: int,
    market_topic: str = "market",
    dead_letter_topic: str = "market.dead_letter",
    rng: random.Random | None = None,
) -> DryRun:
    """A stream, the ingest's handler and validator, and a producer that records instead of sending."""
    recorder = DryRunRecorder(dead_letter_topic, samples, rng)
    recording = RecordingProducer(recorder.produced)
    producer = TrackedProducer(recording)
    handler = SamplingFrameHandler(
        recorder, producer, market_topic, dead_letter_topic, source=source, validator=RecordingValidator(recorder)
    )
    return DryRun(FailFastStream(settings), handler, producer, recording, recorder, IntervalCounter(recorder))


def run_dry_run(
    dry: DryRun, interval_s: float, duration_s: float | None, emit: Callable[[IntervalReport], None]
) -> IntervalReport:
    """Run the ingest window with the recording producer, emitting each interval; Ctrl-C ends it cleanly.

    Returns:
        The summary of the whole run. Raises EndpointUnreachableError or FinnhubAuthError when the first
        connection fails.
    """

    def report(totals: dict[str, Any]) -> None:
        interval = dry.counter.interval(totals)
        if interval is not None:
            emit(interval)

    # Nothing is ever queued, so there is nothing to wait for at the end.
    settings = WindowSettings(report_interval_s=interval_s, window_s=duration_s, flush_timeout_s=0)
    try:
        run_ingest_window(dry.stream, dry.handler, dry.producer, settings, report)
    except KeyboardInterrupt:
        pass  # the window already reported its last interval on the way out
    return dry.counter.summary()
