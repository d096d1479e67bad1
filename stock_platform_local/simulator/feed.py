"""Background loops of the simulator: the generated market, the replay of a recording, and pings."""

from __future__ import annotations

import asyncio
import time

from stock_platform_local.simulator.hub import Hub
from stock_platform_local.simulator.recording import RecordedFrame

# After a stall (slow client, paused loop) catch up at most this much market time; the rest is counted as skipped.
_MAX_CATCH_UP_S = 0.5


async def run_market(hub: Hub, rate: float, tick_s: float) -> None:
    """Generate `rate` trades/s over the subscribed symbols and send them, one batch per tick."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    carry = 0.0
    while True:
        await asyncio.sleep(tick_s)
        if not hub.is_playable():
            await hub.wait_playable()
            last, carry = loop.time(), 0.0
            continue
        now = loop.time()
        elapsed, last = now - last, now
        hub.generator.advance(elapsed)
        if elapsed > _MAX_CATCH_UP_S:
            hub.stats.trades_skipped += int(rate * (elapsed - _MAX_CATCH_UP_S))
            elapsed = _MAX_CATCH_UP_S
        due = carry + rate * elapsed
        count = int(due)
        carry = due - count
        await hub.send_trade_batch(hub.generator.generate(count, int(time.time() * 1000)))


async def run_replay(hub: Hub, frames: list[RecordedFrame], paced: bool, loop_forever: bool, speed: float) -> None:
    """Send recorded frames verbatim, keeping their recorded gaps when `paced`.

    Playback waits while nobody is subscribed or trading is paused, and resumes where it stopped.
    """
    clock = asyncio.get_running_loop().time
    while True:
        origin_s = clock()
        origin_ms = frames[0].received_at_ms
        for frame in frames:
            if not hub.is_playable():
                await hub.wait_playable()
                origin_s, origin_ms = clock(), frame.received_at_ms
            if paced:
                delay = origin_s + (frame.received_at_ms - origin_ms) / 1000 / speed - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            await hub.send_recorded(frame)
        hub.replay_passes += 1
        if not loop_forever:
            return


async def run_pings(hub: Hub, interval_s: float) -> None:
    """Send `{"type":"ping"}` to every connection every `interval_s` seconds, like Finnhub."""
    while True:
        await asyncio.sleep(interval_s)
        await hub.send_pings()
