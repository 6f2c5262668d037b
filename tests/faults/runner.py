"""Run one fault scenario against Home Assistant and the simulated site.

Home Assistant reads the simulated grid meter through a ``FaultProxy``;
``run_scenario`` injects the scenario's fault, polls until the entities go
unavailable (or for a few polls, if they must not), ends the fault and
polls until they are back. Every state the meter's sensors take on the
way (all of those the simulator knows the truth of: powers, voltages,
currents, power factors, frequency, energy totals) is recorded with the
simulator's truth at that moment, so the test can assert that nothing
wrong was ever shown.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import math
import time

from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from eo_lab.faults.proxy import FaultProxy, rewrite_point
from eo_lab.faults.scenarios import SPIKE_WH, Action, Scenario
from eo_lab.sim.simulated_site import SimulatedSite

GRID_POWER = "sensor.eastron_sdm630_grid_power"
IMPORT_POINT = next(p for p in SDM630_POINTS if p.key == "grid_import_energy")
# How far a shown value may be from the truth at the moment it is shown,
# by unit, (relative, absolute): the meter's resolution and what the site
# did in between (a poll takes ms).
TOLERANCE: dict[str | None, tuple[float, float]] = {
    "W": (0.05, 20.0),
    "VA": (0.05, 20.0),
    "var": (0.05, 20.0),
    "A": (0.05, 0.1),
    "V": (0.01, 2.0),
    "Hz": (0.0, 0.05),
    None: (0.0, 0.05),  # power factors
}
# Energy is shown in kWh to the meter's resolution.
ENERGY_TOLERANCE_KWH = 0.01
MAX_POLLS = 6
# What asyncio's debug mode says of a slow step.
_SLOW_STEP = "Executing %s took %.3f seconds"


@dataclass(frozen=True, slots=True)
class Watched:
    """A sensor of the meter whose every state is checked, and its truth's key."""

    entity_id: str
    key: str
    unit: str | None
    # An energy total: never backwards, never above the meter's count.
    total: bool


@dataclass(frozen=True, slots=True)
class Shown:
    """A state a sensor took, and the simulator's truth at that moment."""

    watched: Watched
    state: str
    truth: float
    # The highest truth so far: a reset meter's count may stay above now's.
    highest_truth: float


@dataclass(slots=True)
class Outcome:
    """What a scenario showed: every state, polls and seconds, the log."""

    shown: list[Shown] = field(default_factory=list)
    polls_to_unavailable: int | None = None
    seconds_to_unavailable: float | None = None
    polls_to_recover: int | None = None
    seconds_to_recover: float | None = None
    records: list[logging.LogRecord] = field(default_factory=list)

    def complaints(self) -> list[logging.LogRecord]:
        """Return the log records at WARNING or above."""
        return complaints(self.records)

    def tracebacks(self) -> list[logging.LogRecord]:
        """Return the records that carry a traceback, at INFO or above."""
        return [
            r
            for r in self.records
            if r.levelno >= logging.INFO
            and (r.exc_info is not None or "Traceback" in r.getMessage())
        ]


def complaints(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """Return the log records at WARNING or above.

    asyncio's debug-mode note of a step over 0.1 s is left out: the test
    harness turns it on, and on a shared machine it times the machine.
    """
    return [r for r in records if r.levelno >= logging.WARNING and r.msg != _SLOW_STEP]


def _truths(site: SimulatedSite) -> dict[str, float]:
    """Return what the meter reads now, by key, in the simulator's units."""
    site.sync()
    return site.site.grid_meter_values()


def watched_sensors(
    hass: HomeAssistant, entry: MockConfigEntry, site: SimulatedSite
) -> list[Watched]:
    """Return the entry's sensors whose truth the simulated meter knows."""
    keys = _truths(site).keys()
    watched: list[Watched] = []
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        key = entity.unique_id.removeprefix(f"{entry.unique_id}_")
        if key not in keys or (state := hass.states.get(entity.entity_id)) is None:
            continue
        watched.append(
            Watched(
                entity.entity_id,
                key,
                state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
                total=state.attributes.get(ATTR_STATE_CLASS)
                == SensorStateClass.TOTAL_INCREASING,
            )
        )
    return watched


def _in_shown_unit(watched: Watched, value: float) -> float:
    """Return a truth in the unit its sensor shows (the simulator counts Wh)."""
    return value / 1000 if watched.unit == UnitOfEnergy.KILO_WATT_HOUR else value


class Watcher:
    """Record every state of the watched sensors with the truth at that time."""

    def __init__(
        self, hass: HomeAssistant, site: SimulatedSite, watched: list[Watched]
    ) -> None:
        """Start listening to state changes."""
        self.site = site
        self.watched = {w.entity_id: w for w in watched}
        self.shown: list[Shown] = []
        self._highest: dict[str, float] = {}
        self._unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_change)

    @callback
    def _on_change(self, event: Event[EventStateChangedData]) -> None:
        """Keep a state change of a watched sensor."""
        new = event.data["new_state"]
        watched = self.watched.get(event.data["entity_id"])
        if new is None or watched is None:
            return
        truth = _in_shown_unit(watched, _truths(self.site)[watched.key])
        highest = self._highest[watched.entity_id] = max(
            self._highest.get(watched.entity_id, -math.inf), truth
        )
        self.shown.append(Shown(watched, new.state, truth, highest))

    def stop(self) -> None:
        """Stop listening."""
        self._unsubscribe()


def wrong_values(shown: list[Shown]) -> list[str]:
    """Return every state that was not the truth, described.

    A measurement must be the truth within tolerance; an energy total never
    goes backwards and never above the highest count the meter had.
    """
    wrong: list[str] = []
    last_totals: dict[str, float] = {}
    for item in shown:
        if item.state in {STATE_UNAVAILABLE, STATE_UNKNOWN}:
            continue
        value = float(item.state)
        name = item.watched.entity_id
        if not item.watched.total:
            rel, abs_ = TOLERANCE[item.watched.unit]
            if value != pytest.approx(item.truth, rel=rel, abs=abs_):
                wrong.append(f"{name} {value}, truth {item.truth:.3f}")
            continue
        last = last_totals.get(name)
        if last is not None and value < last:
            wrong.append(f"{name} went back from {last} to {value}")
        if value > item.highest_truth + ENERGY_TOLERANCE_KWH:
            wrong.append(f"{name} {value} above the truth {item.highest_truth}")
        last_totals[name] = value
    return wrong


def _available(hass: HomeAssistant) -> bool:
    """Return whether the meter's power is shown."""
    state = hass.states.get(GRID_POWER)
    return state is not None and state.state != STATE_UNAVAILABLE


async def _poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Run the coordinator's scheduled poll once (as in tests/integration)."""
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


async def _polls_until(
    hass: HomeAssistant, entry: MockConfigEntry, done: Callable[[], bool]
) -> tuple[int | None, float]:
    """Poll until ``done``; return how many polls it took (None: never) and seconds."""
    start = time.monotonic()
    for polls in range(1, MAX_POLLS + 1):
        await _poll(hass, entry)
        if done():
            return polls, time.monotonic() - start
    return None, time.monotonic() - start


async def run_scenario(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    site: SimulatedSite,
    proxy: FaultProxy,
    scenario: Scenario,
    *,
    caplog: pytest.LogCaptureFixture,
    impostor: SimulatedSite | None = None,
) -> Outcome:
    """Inject the scenario's fault, end it, and return what was shown."""
    outcome = Outcome()
    watched = watched_sensors(hass, entry, site)
    assert len(watched) > 20, "the meter's sensors must be watched"
    watcher = Watcher(hass, site, watched)
    await _poll(hass, entry)
    assert _available(hass), "the meter must be shown before the fault"
    caplog.clear()
    await _begin(scenario, site, proxy, impostor)
    if scenario.unavailable:
        polls, seconds = await _polls_until(hass, entry, lambda: not _available(hass))
        outcome.polls_to_unavailable, outcome.seconds_to_unavailable = polls, seconds
    else:
        for _ in range(3):
            await _poll(hass, entry)
            assert _available(hass), f"{scenario.name} made the meter unavailable"
    await proxy.heal()
    await proxy.swap_to(site.port, reconnect=False)
    polls, seconds = await _polls_until(hass, entry, lambda: _available(hass))
    outcome.polls_to_recover, outcome.seconds_to_recover = polls, seconds
    # One more poll after the recovery: the values it shows are checked too.
    await _poll(hass, entry)
    watcher.stop()
    outcome.shown = watcher.shown
    outcome.records = list(caplog.records)
    return outcome


async def _begin(
    scenario: Scenario,
    site: SimulatedSite,
    proxy: FaultProxy,
    impostor: SimulatedSite | None,
) -> None:
    """Start the scenario's fault."""
    match scenario.action:
        case Action.SWAP | Action.SWAP_RECONNECT:
            assert impostor is not None
            await proxy.swap_to(
                impostor.port, reconnect=scenario.action is Action.SWAP_RECONNECT
            )
        case Action.SPIKE:
            await proxy.inject(
                scenario.fault, rewrite=rewrite_point(IMPORT_POINT, lambda: SPIKE_WH)
            )
        case Action.RESET:
            site.site.grid_import_energy_wh = 0.0
        case Action.NONE:
            await proxy.inject(
                scenario.fault, code=scenario.code, delay_s=scenario.delay_s
            )
