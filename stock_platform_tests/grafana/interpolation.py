"""What Grafana does to a dashboard query before the Cassandra plugin sends it: template variables and the
time range substituted as text (Grafana's formats, the plugin's `$__timeFrom`/`$__timeTo` in epoch ms)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

# ${name}, ${name:format} and $name, as Grafana's template service recognises them.
VARIABLE = re.compile(r"\$\{(?P<braced>\w+)(?::(?P<format>[^}]*))?\}|\$(?P<bare>\w+)")
_MOMENT_TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_MOMENT_TOKEN = re.compile("|".join(_MOMENT_TOKENS))


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int

    def shifted(self, ms: int) -> TimeRange:
        return TimeRange(self.from_ms + ms, self.to_ms + ms)


def referenced(query: str) -> set[str]:
    """Names of the variables and macros a query uses."""
    return {match["braced"] or match["bare"] for match in VARIABLE.finditer(query)}


def _date(epoch_ms: int, moment_format: str) -> str:
    """`${__from:date:YYYY-MM-DD}` in UTC (the time zone the dashboards' day partitions use)."""
    strftime = _MOMENT_TOKEN.sub(lambda match: _MOMENT_TOKENS[match.group(0)], moment_format)
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).strftime(strftime)


def _formatted(values: Sequence[str], format_: str | None) -> str:
    # Grafana's sqlstring doubles quotes, as CQL escapes them; its singlequote writes \' which CQL does not know.
    if format_ == "sqlstring":
        return ",".join("'" + value.replace("'", "''") + "'" for value in values)
    if format_ is not None:
        raise ValueError(f"variable format {format_!r} is not one the dashboards are checked with")
    # Grafana's default for several values of a data source without its own format is a glob.
    return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"


def interpolate(query: str, variables: Mapping[str, Sequence[str]], time_range: TimeRange) -> str:
    """The query as the plugin receives it; a variable nobody defined stays as written (and fails as CQL)."""
    built_ins = {"__timeFrom": time_range.from_ms, "__timeTo": time_range.to_ms,
                 "__from": time_range.from_ms, "__to": time_range.to_ms}  # fmt: skip

    def replace(match: re.Match) -> str:
        name, format_ = match["braced"] or match["bare"], match["format"]
        if name in built_ins:
            if format_ and format_.startswith("date:"):
                return _date(built_ins[name], format_.removeprefix("date:"))
            if format_:
                raise ValueError(f"time format {format_!r} is not one the dashboards are checked with")
            return str(built_ins[name])
        if name not in variables:
            return match.group(0)
        return _formatted(variables[name], format_)

    return VARIABLE.sub(replace, query)
