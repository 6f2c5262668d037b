"""The fault campaign against a running Home Assistant: ``eo faults``.

Home Assistant runs as users run it (its own process, a fresh configuration,
onboarded, the grid meter added through the config flow), reading the
simulated site's grid meter through a ``FaultProxy``. For each scenario of
``scenarios.SCENARIOS`` the campaign injects the fault, watches the meter's
entities through Home Assistant's HTTP API until they go unavailable, ends
the fault and watches until they are back, and measures:

- how long until unavailable, and until back after the fault ended;
- the log lines at WARNING or above, and the tracebacks, per outage;
- energy totals shown that went backwards or above the meter's count;
- how long Home Assistant's API took to answer meanwhile.
"""

import asyncio
from collections.abc import Coroutine, Iterator, Sequence
import contextlib
from dataclasses import asdict, dataclass, field
import re
import statistics
import threading
import time
from typing import Any

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from eo_lab.screenshots import Lab, StepError
from eo_lab.sim.simulated_site import SimulatedSite

from .proxy import FaultProxy, rewrite_point
from .scenarios import SCENARIOS, SPIKE_WH, Action, Scenario

POWER = "sensor.eastron_sdm630_grid_power"
ENERGY = "sensor.eastron_sdm630_grid_import_energy"
# How long a fault lasts at most before its entities must have gone, and
# how long one the integration rides out lasts: three polls.
UNAVAILABLE_WITHIN_S = 40.0
RIDE_OUT_S = 15.0
RECOVER_WITHIN_S = 60.0
SAMPLE_EVERY_S = 0.25
# Energy is shown to 0.01 kWh.
ENERGY_TOLERANCE_KWH = 0.01
_UNAVAILABLE = {"unavailable", "unknown"}
_COMPLAINT = re.compile(r" (WARNING|ERROR|CRITICAL) \(")
_TRACEBACK = "Traceback (most recent call last)"
IMPORT_POINT = next(p for p in SDM630_POINTS if p.key == "grid_import_energy")
IMPOSTOR_SERIAL = 11111111
IMPOSTOR_IMPORT_WH = 9_000_000.0


@dataclass(slots=True)
class Row:
    """What one scenario showed."""

    fault: str
    unavailable_after_s: float | None = None
    recovered_after_s: float | None = None
    warnings: int = 0
    errors: int = 0
    tracebacks: int = 0
    wrong_totals: int = 0
    api_median_ms: float = 0.0
    api_max_ms: float = 0.0
    held: bool = True  # whether it behaved as the scenario says it must
    notes: list[str] = field(default_factory=list)


class Peers:
    """The simulated site, an impostor meter and the proxy, in a thread of their own.

    Home Assistant's API is called from the main thread with blocking
    requests; the peers run on their own event loop meanwhile.
    """

    def __init__(self) -> None:
        """Start the loop; ``start`` starts the peers."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="fault peers", daemon=True
        )
        self._thread.start()
        self.site = SimulatedSite(port=0)
        self.impostor = SimulatedSite(
            port=0, grid_meter_serial=IMPOSTOR_SERIAL, start_time=1_750_000_000.0
        )
        self.proxy: FaultProxy | None = None
        self.highest_import_wh = 0.0
        # The last energy total Home Assistant showed, across scenarios.
        self.last_total: float | None = None

    def run[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the peers' loop; return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def start(self) -> FaultProxy:
        """Serve the site, the impostor and the proxy; return the proxy."""

        async def start() -> FaultProxy:
            await self.site.start()
            await self.impostor.start()
            self.impostor.site.grid_import_energy_wh = IMPOSTOR_IMPORT_WH
            proxy = FaultProxy(self.site.port)
            await proxy.start()
            return proxy

        self.proxy = self.run(start())
        return self.proxy

    def stop(self) -> None:
        """Stop the peers and their loop."""

        async def stop() -> None:
            if self.proxy is not None:
                await self.proxy.stop()
            await self.impostor.stop()
            await self.site.stop()

        with contextlib.suppress(Exception):
            self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def import_kwh(self) -> float:
        """Return the meter's import count now, keeping the highest seen, in kWh."""

        async def read() -> float:
            self.site.sync()
            return self.site.site.grid_import_energy_wh

        now = self.run(read())
        self.highest_import_wh = max(self.highest_import_wh, now)
        return self.highest_import_wh / 1000

    def begin(self, scenario: Scenario) -> None:
        """Start a scenario's fault."""
        proxy = self.proxy
        assert proxy is not None

        async def begin() -> None:
            match scenario.action:
                case Action.SWAP | Action.SWAP_RECONNECT:
                    await proxy.swap_to(
                        self.impostor.port,
                        reconnect=scenario.action is Action.SWAP_RECONNECT,
                    )
                case Action.SPIKE:
                    await proxy.inject(
                        scenario.fault,
                        rewrite=rewrite_point(IMPORT_POINT, lambda: SPIKE_WH),
                    )
                case Action.RESET:
                    self.site.site.grid_import_energy_wh = 0.0
                case Action.NONE:
                    await proxy.inject(
                        scenario.fault, code=scenario.code, delay_s=scenario.delay_s
                    )

        self.run(begin())

    def end(self) -> None:
        """End the fault: the proxy forwards to the site faithfully again."""
        proxy = self.proxy
        assert proxy is not None

        async def end() -> None:
            await proxy.heal()
            await proxy.swap_to(self.site.port, reconnect=False)

        self.run(end())


class Watch:
    """Samples of the meter's entities through the API, judged as they come."""

    def __init__(self, lab: Lab, peers: Peers, row: Row) -> None:
        """Judge into ``row``."""
        self.lab = lab
        self.peers = peers
        self.row = row
        self.latencies_ms: list[float] = []

    def _get(self, entity_id: str) -> str:
        """Return an entity's state, timing the API's answer."""
        start = time.monotonic()
        state: str = self.lab.api.request("GET", f"/api/states/{entity_id}")["state"]
        self.latencies_ms.append((time.monotonic() - start) * 1000)
        return state

    def available(self) -> bool:
        """Sample once; return whether the meter's power is shown."""
        power = self._get(POWER)
        energy = self._get(ENERGY)
        if energy not in _UNAVAILABLE:
            self._judge_total(float(energy))
        return power not in _UNAVAILABLE

    def _judge_total(self, total: float) -> None:
        """Count a total that went backwards or above the meter's count."""
        last = self.peers.last_total
        if last is not None and total < last:
            self.row.wrong_totals += 1
            self.row.notes.append(f"total went back {last} -> {total}")
        highest = self.peers.import_kwh()
        if total > highest + ENERGY_TOLERANCE_KWH:
            self.row.wrong_totals += 1
            self.row.notes.append(f"total {total} kWh above the meter's {highest:.2f}")
        self.peers.last_total = total

    def until(self, available: bool, within_s: float) -> float | None:
        """Sample until the meter is (un)available; return the seconds, None if not."""
        start = time.monotonic()
        while time.monotonic() - start < within_s:
            if self.available() is available:
                return time.monotonic() - start
            time.sleep(SAMPLE_EVERY_S)
        return None

    def holds(self, seconds: float) -> bool:
        """Sample for ``seconds``; return whether the meter stayed shown."""
        start = time.monotonic()
        shown = True
        while time.monotonic() - start < seconds:
            shown = self.available() and shown
            time.sleep(SAMPLE_EVERY_S)
        return shown


def run_scenario(lab: Lab, peers: Peers, scenario: Scenario) -> Row:
    """Run one scenario against Home Assistant; return what it showed."""
    row = Row(scenario.name)
    watch = Watch(lab, peers, row)
    if watch.until(available=True, within_s=RECOVER_WITHIN_S) is None:
        raise StepError(f"{scenario.name}: the meter was not shown before the fault")
    assert lab.hass is not None
    log_start = len(lab.hass.output())
    peers.begin(scenario)
    if scenario.unavailable:
        row.unavailable_after_s = watch.until(
            available=False, within_s=UNAVAILABLE_WITHIN_S
        )
        row.held = row.unavailable_after_s is not None
    else:
        row.held = watch.holds(RIDE_OUT_S)
    peers.end()
    row.recovered_after_s = watch.until(available=True, within_s=RECOVER_WITHIN_S)
    # One more poll's worth of samples: what is shown once back is judged too.
    watch.holds(5.0)
    log = lab.hass.output()[log_start:]
    row.warnings = sum(
        1
        for line in log.splitlines()
        if (m := _COMPLAINT.search(line)) and m[1] == "WARNING"
    )
    row.errors = sum(
        1
        for line in log.splitlines()
        if (m := _COMPLAINT.search(line)) and m[1] != "WARNING"
    )
    row.tracebacks = log.count(_TRACEBACK)
    row.api_median_ms = statistics.median(watch.latencies_ms)
    row.api_max_ms = max(watch.latencies_ms)
    row.held = (
        row.held
        and row.recovered_after_s is not None
        and row.wrong_totals == 0
        and row.tracebacks == 0
        and row.warnings + row.errors <= 1
    )
    return row


@contextlib.contextmanager
def running_lab(keep: bool = False) -> Iterator[tuple[Lab, Peers, FaultProxy]]:
    """Start the peers and Home Assistant with the meter added through the proxy."""
    peers = Peers()
    try:
        proxy = peers.start()
        with Lab(keep) as lab:
            lab.start_home_assistant()
            lab.onboard()
            lab.add(
                "tcp",
                {
                    "host": "127.0.0.1",
                    "port": proxy.port,
                    "more_options": {"unit_id": 1, "framing": "tcp"},
                },
                family="sdm630",
            )
            yield lab, peers, proxy
    finally:
        peers.stop()


def run_campaign(names: Sequence[str] = ()) -> list[Row]:
    """Run the scenarios named (all if none); return a row per scenario."""
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        raise ValueError(f"no scenario {', '.join(sorted(unknown))}")
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    rows: list[Row] = []
    with running_lab() as (lab, peers, _proxy):
        rows.extend(run_scenario(lab, peers, scenario) for scenario in chosen)
    return rows


def _seconds(value: float | None) -> str:
    """Return seconds for the table; a dash for none."""
    return "-" if value is None else f"{value:.1f}"


def format_rows(rows: Sequence[Row]) -> str:
    """Return the campaign's table, as docs/faults.md shows it."""
    header = (
        f"{'fault':<26} {'unavail. s':>10} {'back s':>7} {'warn':>5} {'err':>4}"
        f" {'tb':>3} {'wrong':>6} {'API ms (max)':>13}  held"
    )
    lines = [header]
    for row in rows:
        api = f"{row.api_median_ms:.0f} ({row.api_max_ms:.0f})"
        lines.append(
            f"{row.fault:<26} {_seconds(row.unavailable_after_s):>10}"
            f" {_seconds(row.recovered_after_s):>7} {row.warnings:>5} {row.errors:>4}"
            f" {row.tracebacks:>3} {row.wrong_totals:>6} {api:>13}"
            f"  {'yes' if row.held else 'NO'}"
        )
    return "\n".join(lines)


def rows_as_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Return the rows as JSON-ready dicts."""
    return [asdict(row) for row in rows]
