"""Shared bits of the fault tests: the figures report (one JSON line per test)."""

from __future__ import annotations

import json
import os
from typing import Any


def report_figures(record_property, test: str, figures: dict[str, Any]) -> None:
    """Print the figures (captured into the test report), attach them as a property, and append them as
    one JSON line to $STOCK_PLATFORM_FAULT_REPORT when it is set."""
    line = json.dumps({"test": test, **figures}, sort_keys=True)
    print(f"FAULT FIGURES {line}")
    record_property("fault_figures", line)
    path = os.environ.get("STOCK_PLATFORM_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(line + "\n")
