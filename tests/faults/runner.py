"""Run one fault scenario against Home Assistant and the simulated site.

Home Assistant reads the simulated grid meter through a ``FaultProxy``;
``run_scenario`` injects the scenario's fault, polls until the entities go
unavailable (or for a few polls, if they must not), ends the fault and
polls until they are back. Every state the meter's entities take on the
way is recorded with the simulator's truth at that moment, so the test can
assert that nothing wrong was ever shown.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import math
import time

from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from eo_lab.faults.proxy import FaultProxy, rewrite_point
from eo_lab.faults.scenarios import SPIKE_WH, Action, Scenario
from eo_lab.sim.simulated_site import SimulatedSite

GRID_POWER = "sensor.eastron_sdm630_grid_power"
IMPORT_ENERGY = "sensor.eastron_sdm630_grid_import_energy"
IMPORT_POINT = next(p for p in SDM630_POINTS if p.key == "grid_import_energy")
# A shown power may differ from the truth at the moment it is shown by the
# meter's resolution and what the site did in between (a poll takes ms).
POWER_TOLERANCE = {"rel": 0.05, "abs": 20.0}
# Energy is shown in kWh to the meter's resolution.
ENERGY_TOLERANCE_KWH = 0.01
MAX_POLLS = 6


@dataclass(frozen=True, slots=True)
class Shown:
    """A state an entity took, and the simulator's truth at that moment."""

    entity_id: str
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
        return [r for r in self.records if r.levelno >= logging.WARNING]

    def tracebacks(self) -> list[logging.LogRecord]:
        """Return the records that carry a traceback, at INFO or above."""
        return [
            r
            for r in self.records
            if r.levelno >= logging.INFO
            and (r.exc_info is not None or "Traceback" in r.getMessage())
        ]


def _truths(site: SimulatedSite) -> dict[str, float]:
    """Return what the meter's watched entities should show now."""
    site.sync()
    values = site.site.grid_meter_values()
    return {
        GRID_POWER: values["grid_power"],
        IMPORT_ENERGY: values["grid_import_energy"] / 1000,
    }


class Watcher:
    """Record every state of the watched entities with the truth at that time."""

    def __init__(self, hass: HomeAssistant, site: SimulatedSite) -> None:
        """Start listening to state changes."""
        self.site = site
        self.shown: list[Shown] = []
        self._highest: dict[str, float] = {}
        self._unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_change)

    @callback
    def _on_change(self, event: Event[EventStateChangedData]) -> None:
        """Keep a state change of a watched entity."""
        entity_id = event.data["entity_id"]
        new = event.data["new_state"]
        truths = _truths(self.site)
        if new is None or entity_id not in truths:
            return
        truth = truths[entity_id]
        highest = self._highest[entity_id] = max(
            self._highest.get(entity_id, -math.inf), truth
        )
        self.shown.append(Shown(entity_id, new.state, truth, highest))

    def stop(self) -> None:
        """Stop listening."""
        self._unsubscribe()


def wrong_values(shown: list[Shown]) -> list[str]:
    """Return every state that was not the truth, described.

    A power must be the truth within tolerance; an energy total never goes
    backwards and never above the highest count the meter had.
    """
    wrong: list[str] = []
    last_total: float | None = None
    for item in shown:
        if item.state in {STATE_UNAVAILABLE, STATE_UNKNOWN}:
            continue
        value = float(item.state)
        if item.entity_id == GRID_POWER:
            if value != pytest.approx(item.truth, **POWER_TOLERANCE):
                wrong.append(f"power {value} W, truth {item.truth:.0f} W")
            continue
        if last_total is not None and value < last_total:
            wrong.append(f"energy went back from {last_total} to {value} kWh")
        if value > item.highest_truth + ENERGY_TOLERANCE_KWH:
            wrong.append(f"energy {value} kWh above the truth {item.highest_truth}")
        last_total = value
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
    watcher = Watcher(hass, site)
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
