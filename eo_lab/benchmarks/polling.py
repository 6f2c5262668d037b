"""Benchmarks behind ``eo bench``: figures to print, never to assert.

- ``poll``: one full SDM630 poll with the read planner, against the baseline
  of one request per value, over real Modbus TCP: requests, bytes, time and
  the client's CPU time per poll.
- ``scale``: a mini-grid of many meters behind several gateways, polled at
  the integration's cadence: the client's CPU time per cycle, requests and
  bytes per cycle and the latency of a full cycle.

Both read through ``modbus-connection`` connections, the library Home
Assistant's shared connections are built on, one per gateway as there.

The simulated devices run in a child process (``eo simulate --gateways``),
so the client's CPU time is the client's alone.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import os
import random
import socket
import statistics
import sys
import time
from typing import Any

from custom_components.energy_orchestrator.const import SCAN_INTERVAL
from custom_components.energy_orchestrator.lib.drivers.cadence import Cadence
from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.link import LinkStats
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import default_battery
from eo_lab.sim.site import Site

HOST = "127.0.0.1"
# Serial numbers of the mini-grid's meters encode gateway and unit.
_SERIAL_BASE = 64_000_000


async def serve_mini_grid(
    first_port: int,
    gateways: int,
    units: int,
    stop: asyncio.Event,
    out: Callable[[str], None],
) -> None:
    """Serve gateways on consecutive ports, ``units`` SDM630 meters on each.

    Every meter reads the same simulated site, advanced to the wall clock on
    every request: what a benchmark measures here is the protocol and the
    client, not the physics.
    """
    site = Site(bundled_profile(), default_battery(), start_time=time.time())

    def values() -> dict[str, float]:
        site.advance_to(time.time())
        return site.grid_meter_values()

    async with contextlib.AsyncExitStack() as stack:
        for gateway in range(gateways):
            devices = {
                unit: SDM630Emulator(
                    _SERIAL_BASE + gateway * 1000 + unit, values
                ).sim_device(unit)
                for unit in range(1, units + 1)
            }
            server = await stack.enter_async_context(
                serve_devices(HOST, first_port + gateway, devices)
            )
            out(
                f"gateway {gateway + 1}: {server.url}, units 1-{units}:"
                " Eastron SDM630 meters"
            )
        await stop.wait()


@contextlib.asynccontextmanager
async def _mini_grid_process(
    gateways: int, units: int, first_port: int
) -> AsyncIterator[list[str]]:
    """Run a mini-grid in a child process; yield its gateway URLs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "eo_lab",
        "simulate",
        "--port",
        str(first_port),
        "--gateways",
        str(gateways),
        "--units-per-gateway",
        str(units),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        urls: list[str] = []
        while len(urls) < gateways:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            if not line:
                raise RuntimeError("the simulator stopped before serving")
            urls.append(line.split(": ", 1)[1].split(",", 1)[0])
        yield urls
    finally:
        process.terminate()
        await process.wait()


def _free_port_block(count: int) -> int:
    """Return the first of ``count`` consecutive ports free right now.

    The search starts at a random port, so that runs side by side (tests on
    several workers) do not all try the same block.
    """
    start = random.randrange(20_000, 60_000)
    firsts: list[int] = [*range(start, 60_000, 97), *range(20_000, start, 97)]
    for first in firsts:
        try:
            sockets = []
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((HOST, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise RuntimeError("no block of free ports")


def _bytes(stats: LinkStats) -> int:
    """Return the bytes a link sent and received."""
    return stats.bytes_sent + stats.bytes_received


async def _measure(
    link: ModbusLink, poll: Callable[[], Awaitable[object]], polls: int
) -> dict[str, float]:
    """Poll ``polls`` times; return requests, bytes, time and CPU per poll."""
    requests, wire = link.stats.requests, _bytes(link.stats)
    durations = []
    cpu_start = time.process_time()
    for _ in range(polls):
        start = time.perf_counter()
        await poll()
        durations.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_start
    return {
        "requests": (link.stats.requests - requests) / polls,
        "bytes": (_bytes(link.stats) - wire) / polls,
        "ms_mean": statistics.mean(durations) * 1000,
        "ms_max": max(durations) * 1000,
        "cpu_ms": cpu / polls * 1000,
    }


async def poll_benchmark(polls: int = 50) -> dict[str, Any]:
    """Compare the planned SDM630 poll with one request per value."""
    async with _mini_grid_process(1, 1, _free_port_block(1)) as urls:
        link = ModbusLink.standalone(parse_endpoint(urls[0]))
        driver = SDM630(link, 1)
        await driver.async_identify()
        # The first poll learns the device's holes; measure the steady state.
        await driver.async_read()

        async def one_request_per_value() -> None:
            for point in SDM630_POINTS:
                await link.read_registers(1, point.table, point.address, point.count)

        planned = await _measure(link, driver.async_read, polls)
        baseline = await _measure(link, one_request_per_value, polls)
        await link.close()
    return {
        "benchmark": "poll",
        "device": "sdm630",
        "values": len(SDM630_POINTS),
        "polls": polls,
        "planned": planned,
        "one_request_per_value": baseline,
    }


async def scale_benchmark(
    devices: int = 50, gateways: int = 5, cycles: int = 6, interval: float | None = None
) -> dict[str, Any]:
    """Poll a mini-grid at the integration's cadence and measure each cycle."""
    if devices % gateways:
        raise ValueError("devices must be a multiple of gateways")
    units = devices // gateways
    cadence = SCAN_INTERVAL.total_seconds() if interval is None else interval
    async with _mini_grid_process(gateways, units, _free_port_block(gateways)) as urls:
        pool = LinkPool()
        drivers = [
            SDM630(pool.acquire_modbus(parse_endpoint(url)), unit)
            for url in urls
            for unit in range(1, units + 1)
        ]
        await asyncio.gather(*(d.async_identify() for d in drivers))
        await asyncio.gather(*(d.async_read() for d in drivers))
        links = pool.links
        figures = []
        # As the coordinator does: fast values every cycle, counters and
        # settings when their cadence comes round.
        slow_every = max(1, round(Cadence.SLOW / cadence))
        for cycle in range(cycles):
            due = {Cadence.FAST} | (
                {Cadence.SLOW} if cycle % slow_every == 0 else set()
            )
            cycle_start = time.perf_counter()
            cpu_start = time.process_time()
            requests = sum(link.stats.requests for link in links)
            wire = sum(_bytes(link.stats) for link in links)
            await asyncio.gather(*(d.async_poll(due) for d in drivers))
            figures.append(
                (
                    time.process_time() - cpu_start,
                    time.perf_counter() - cycle_start,
                    sum(link.stats.requests for link in links) - requests,
                    sum(_bytes(link.stats) for link in links) - wire,
                )
            )
            await asyncio.sleep(max(0.0, cadence - (time.perf_counter() - cycle_start)))
        for link in links:
            await pool.release(link)
    cpu = [f[0] for f in figures]
    latency = [f[1] for f in figures]
    return {
        "benchmark": "scale",
        "devices": devices,
        "gateways": gateways,
        "cycles": cycles,
        "cadence_s": cadence,
        "cpu_ms_per_cycle": statistics.mean(cpu) * 1000,
        "cpu_share_of_one_core": statistics.mean(cpu) / cadence,
        "requests_per_cycle": statistics.mean(f[2] for f in figures),
        "bytes_per_cycle": statistics.mean(f[3] for f in figures),
        "cycle_latency_ms_mean": statistics.mean(latency) * 1000,
        "cycle_latency_ms_max": max(latency) * 1000,
    }


def format_figures(figures: dict[str, Any]) -> str:
    """Return benchmark figures as the lines of a table in docs/benchmarks.md."""
    if figures["benchmark"] == "poll":
        rows = [
            f"SDM630 full poll ({figures['values']} values, {figures['polls']} polls,"
            " Modbus TCP on loopback)",
            f"{'':24} {'requests':>9} {'bytes':>8} {'ms mean':>8} {'ms max':>8}"
            f" {'CPU ms':>8}",
        ]
        for name in ("planned", "one_request_per_value"):
            f = figures[name]
            rows.append(
                f"{name:24} {f['requests']:9.1f} {f['bytes']:8.0f}"
                f" {f['ms_mean']:8.2f} {f['ms_max']:8.2f} {f['cpu_ms']:8.2f}"
            )
        return "\n".join(rows)
    return "\n".join(
        [
            f"{figures['devices']} SDM630 meters on {figures['gateways']} gateways,"
            f" polled every {figures['cadence_s']:g} s, {figures['cycles']} cycles",
            f"client CPU per cycle:   {figures['cpu_ms_per_cycle']:.1f} ms"
            f" ({figures['cpu_share_of_one_core']:.2%} of one core)",
            f"requests per cycle:     {figures['requests_per_cycle']:.0f}",
            f"bytes per cycle:        {figures['bytes_per_cycle']:.0f}",
            f"full cycle latency:     {figures['cycle_latency_ms_mean']:.1f} ms mean,"
            f" {figures['cycle_latency_ms_max']:.1f} ms max",
        ]
    )
