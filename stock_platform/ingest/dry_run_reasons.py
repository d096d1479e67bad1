"""Dead-letter reasons and frame samples of an ingest dry run, grouped and counted per interval.

Reasons are grouped by the rule broken, not the symbol or value, so a feed of bad prices is one line.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field

from stock_platform.kafka.avro_codec import DeadLetterCodec

_SHOWN_CHARS = 200
_MAX_GROUPS = 50
_OTHER_RULE = "(other reasons)"
_TRADES_REJECTED = re.compile(r"^\d+ of \d+ trades rejected: ")
# "AAPL: price -1.0 is not a number in (0, 1e+09]" -> "price is not a number in (0, 1e+09]": the symbol and the
# quoted value differ per trade, the rule does not. A reason of another shape is grouped by its whole text.
_TRADE_RULE = re.compile(r"^(?:.*?: )?(?P<field>symbol|price|volume|timestamp|conditions) .*? (?P<rule>(?:is|are) .*)$")
# Parser positions and exception details make every such reason unique; the part before them is the rule.
_CUT_AT_COLON = ("not valid JSON: ", "unexpected ")
_TRUNCATION_NOTE = re.compile(r" \[frame of \d+ bytes truncated to fit .*\]$")


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
