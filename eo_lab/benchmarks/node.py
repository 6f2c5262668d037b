"""``eo bench node``: many ``eo node`` processes on one Mosquitto broker.

Each node is a real ``eo node`` subprocess with its components on a
gateway of the simulated mini-grid (SDM630 meters, one gateway per node);
a Mosquitto of its own runs on a free loopback port. A client subscribed to
everything counts the messages, measures how long a state message takes
from the node's stamp to its arrival, and sends ``read`` requests to
measure a request's round trip. Each node's CPU time and resident memory
come from /proc.

The Raspberry Pi 3 budget is a node's share of one core and its memory:
the figures are measured on the machine that runs the benchmark and scaled
by ``PI3_SLOWDOWN``, a stated assumption, not a measurement on a Pi.
"""

import asyncio
from collections.abc import AsyncIterator
import contextlib
from datetime import datetime
import json
import os
from pathlib import Path
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
import uuid

import aiomqtt

from eo_lab.benchmarks.polling import _free_port_block, _mini_grid_process

PREFIX = "energy_orchestrator"
# How much slower CPython runs on a Raspberry Pi 3's Cortex-A53 at 1.2 GHz
# than on a current x86 core: an assumption (pyperformance-style figures
# put it between 6 and 10), not a measurement on a Pi.
PI3_SLOWDOWN = 8.0
# What one node may take of a Pi 3: a quarter of one of its four cores, and
# 100 MB of its 1 GB, leaving the rest to the OS, ser2net and the broker.
PI3_CPU_BUDGET = 0.25
PI3_RSS_BUDGET_MB = 100.0
_REQUESTS_PER_S = 5.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], share: float) -> float:
    """Return a percentile of values (nearest rank); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _cpu_seconds(pid: int) -> float:
    """Return a process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _rss_mb(pid: int) -> float:
    """Return a process's resident memory in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mosquitto_program(name: str = "mosquitto") -> str | None:
    """Return the path of one of Mosquitto's programs, None when missing.

    Debian puts the broker in /usr/sbin, off a plain user's PATH.
    """
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


@contextlib.contextmanager
def _broker(folder: Path) -> Any:
    """Run Mosquitto on a free loopback port; yield the port."""
    mosquitto = mosquitto_program()
    if mosquitto is None:
        raise RuntimeError("mosquitto is not installed (scripts/setup installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\n"
    )
    process = subprocess.Popen(
        [mosquitto, "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@contextlib.asynccontextmanager
async def _nodes(
    folder: Path, port: int, urls: list[str], components: int, interval: float
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Start one ``eo node`` per gateway; stop them on the way out."""
    processes = []
    try:
        for index, url in enumerate(urls):
            node = f"node{index + 1}"
            config = {
                "node": node,
                "mqtt": {"host": "127.0.0.1", "port": port, "prefix": PREFIX},
                "components": [
                    {
                        "id": f"meter{unit}",
                        "family": "sdm630",
                        "url": url,
                        "unit": unit,
                        "interval": interval,
                    }
                    for unit in range(1, components + 1)
                ],
            }
            path = folder / f"{node}.yaml"
            path.write_text(json.dumps(config))  # JSON is YAML
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "eo_lab",
                    "node",
                    "--config",
                    str(path),
                    "--log-level",
                    "WARNING",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=(folder / f"{node}.log").open("wb"),
                )
            )
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            await process.wait()


class _Counter:
    """What the benchmark's client saw."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        self.messages = 0
        self.states: dict[str, int] = {}
        self.state_delays: list[float] = []
        self.round_trips: list[float] = []
        self.pending: dict[str, float] = {}
        self.counting = False

    def take(self, topic: str, payload: bytes) -> None:
        """Count one message; time a state's delivery or a response's trip."""
        arrived = time.time()
        if not self.counting:
            return
        self.messages += 1
        if topic.endswith("/state"):
            body = json.loads(payload)
            self.states[topic] = self.states.get(topic, 0) + 1
            stamped = datetime.fromisoformat(body["time"]).timestamp()
            self.state_delays.append(arrived - stamped)
        elif topic.endswith("/response"):
            body = json.loads(payload)
            sent = self.pending.pop(str(body.get("request_id")), None)
            if sent is not None and "values" in body:
                self.round_trips.append(time.monotonic() - sent)


async def _client(port: int, counter: _Counter, ready: asyncio.Event) -> None:
    """Receive everything under the prefix into the counter."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="eo-bench") as client:
        await client.subscribe(f"{PREFIX}/#", qos=0)
        ready.set()
        async for message in client.messages:
            payload = message.payload
            counter.take(
                message.topic.value, payload if isinstance(payload, bytes) else b""
            )


async def _requests(port: int, counter: _Counter, nodes: int, components: int) -> None:
    """Send ``read`` requests round the components at a steady rate."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="eo-bench-req") as client:
        index = 0
        while True:
            node = index % nodes + 1
            unit = index // nodes % components + 1
            request_id = uuid.uuid4().hex
            body = {
                "request_id": request_id,
                "time": datetime.now().astimezone().isoformat(),
                "command": "read",
            }
            counter.pending[request_id] = time.monotonic()
            await client.publish(
                f"{PREFIX}/node{node}/meter{unit}/request", json.dumps(body), qos=1
            )
            index += 1
            await asyncio.sleep(1 / _REQUESTS_PER_S)


async def _wait_online(counter: _Counter, expected: int, within: float) -> None:
    """Wait until every component has published a state."""
    deadline = time.monotonic() + within
    counter.counting = True
    while len(counter.states) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(counter.states)} of {expected} components published"
                f" within {within:g} s"
            )
        await asyncio.sleep(0.2)


async def node_benchmark(
    nodes: int = 10, components: int = 5, seconds: float = 30.0, interval: float = 1.0
) -> dict[str, Any]:
    """Run the nodes for ``seconds`` once all publish; return the figures."""
    with tempfile.TemporaryDirectory() as temporary, _broker(Path(temporary)) as port:
        folder = Path(temporary)
        first = _free_port_block(nodes)
        async with (
            _mini_grid_process(nodes, components, first) as urls,
            _nodes(folder, port, urls, components, interval) as processes,
        ):
            counter = _Counter()
            ready = asyncio.Event()
            listening = asyncio.create_task(_client(port, counter, ready))
            await asyncio.wait_for(ready.wait(), 10)
            # Each node imports its drivers first: seconds each on a loaded machine.
            await _wait_online(counter, nodes * components, 30 + 10 * nodes)
            asking = asyncio.create_task(_requests(port, counter, nodes, components))
            counter.messages = 0
            counter.state_delays.clear()
            cpu_before = [_cpu_seconds(p.pid) for p in processes]
            started = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - started
            cpu = [
                (_cpu_seconds(p.pid) - before) / elapsed
                for p, before in zip(processes, cpu_before, strict=True)
            ]
            rss = [_rss_mb(p.pid) for p in processes]
            messages = counter.messages
            for task in (asking, listening):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task
    cpu_share = statistics.mean(cpu)
    pi3_share = max(cpu) * PI3_SLOWDOWN
    return {
        "benchmark": "node",
        "nodes": nodes,
        "components_per_node": components,
        "interval_s": interval,
        "seconds": round(elapsed, 1),
        "messages_per_s": round(messages / elapsed, 1),
        "state_delivery_ms": {
            "p50": round(_percentile(counter.state_delays, 0.5) * 1000, 1),
            "p99": round(_percentile(counter.state_delays, 0.99) * 1000, 1),
        },
        "request_round_trip_ms": {
            "requests": len(counter.round_trips),
            "p50": round(_percentile(counter.round_trips, 0.5) * 1000, 1),
            "p99": round(_percentile(counter.round_trips, 0.99) * 1000, 1),
        },
        "node_cpu_share": {
            "mean": round(cpu_share, 4),
            "max": round(max(cpu), 4),
        },
        "node_rss_mb": {
            "mean": round(statistics.mean(rss), 1),
            "max": round(max(rss), 1),
        },
        "pi3": {
            "slowdown_assumed": PI3_SLOWDOWN,
            "cpu_share_estimated": round(pi3_share, 3),
            "cpu_budget": PI3_CPU_BUDGET,
            "rss_budget_mb": PI3_RSS_BUDGET_MB,
            "within_budget": pi3_share <= PI3_CPU_BUDGET
            and max(rss) <= PI3_RSS_BUDGET_MB,
        },
    }


def format_node_figures(figures: dict[str, Any]) -> str:
    """Return the figures as the lines ``eo bench node`` prints."""
    pi3 = figures["pi3"]
    delivery = figures["state_delivery_ms"]
    trip = figures["request_round_trip_ms"]
    cpu = figures["node_cpu_share"]
    rss = figures["node_rss_mb"]
    verdict = "within" if pi3["within_budget"] else "OVER"
    return "\n".join(
        [
            f"nodes x components: {figures['nodes']} x {figures['components_per_node']},"
            f" every {figures['interval_s']:g} s, for {figures['seconds']:g} s",
            f"messages: {figures['messages_per_s']:g}/s",
            f"state delivery: p50 {delivery['p50']:g} ms, p99 {delivery['p99']:g} ms",
            f"request round trip ({trip['requests']} reads): p50 {trip['p50']:g} ms,"
            f" p99 {trip['p99']:g} ms",
            f"a node: {cpu['mean'] * 100:.2f} % of one core (max {cpu['max'] * 100:.2f} %),"
            f" {rss['mean']:.0f} MB resident (max {rss['max']:.0f} MB)",
            f"Raspberry Pi 3 (x{pi3['slowdown_assumed']:g} slower, assumed):"
            f" {pi3['cpu_share_estimated'] * 100:.1f} % of a core of"
            f" {pi3['cpu_budget'] * 100:.0f} %, {rss['max']:.0f} of"
            f" {pi3['rss_budget_mb']:.0f} MB: {verdict} budget",
        ]
    )
