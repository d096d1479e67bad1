"""Local Finnhub simulator: the trade websocket, company-news REST and test controls, in one aiohttp server."""

from stock_platform_local.simulator.config import SimulatorConfig, SimulatorConfigError
from stock_platform_local.simulator.recording import RecordedFrame, RecordingError, load_recording, recording_line
from stock_platform_local.simulator.server import SimulatorServer, SimulatorUrls

__all__ = [
    "RecordedFrame",
    "RecordingError",
    "SimulatorConfig",
    "SimulatorConfigError",
    "SimulatorServer",
    "SimulatorUrls",
    "load_recording",
    "recording_line",
]
