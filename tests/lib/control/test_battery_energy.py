"""Every battery a device has gets energy counters: its own, or counted from power."""

from collections.abc import AsyncIterator

import pytest

from custom_components.energy_orchestrator.lib.control.battery_energy import (
    DeviceBatteryEnergy,
    counted_keys,
    counted_parts,
)
from custom_components.energy_orchestrator.lib.drivers.bms import PylontechStack
from custom_components.energy_orchestrator.lib.drivers.cadence import ALL_CADENCES
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    SerialLink,
)
from custom_components.energy_orchestrator.lib.drivers.values import (
    Reading,
    make_reading,
)
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.devices.bms import PylontechStackEmulator
from eo_lab.sim.fleet import serve_fleet, served_driver
from eo_lab.sim.profiles import Profile
from eo_lab.sim.simulated_site import SimulatedSite
from eo_lab.sim.site import Site

CHARGE = "battery_charge_energy"
DISCHARGE = "battery_discharge_energy"
T0 = 1_780_000_000.0


def _readings(now: float, **values: float) -> dict[str, Reading]:
    """Return readings stamped ``now``; ``__`` in a name is the sub-device slash."""
    readings: dict[str, Reading] = {}
    for name, value in values.items():
        key = name.replace("__", "/")
        reading = make_reading(key, value, now)
        assert reading is not None
        readings[key] = reading
    return readings


def test_each_battery_part_without_counters_is_counted() -> None:
    """A Victron GX: the system counted by power, vebus by V x I, not the BMS."""
    keys = {
        "battery_power",
        "battery_soc",
        "battery/battery_power",
        "battery/battery_charge_energy",
        "battery/battery_discharge_energy",
        "vebus/battery_voltage",
        "vebus/battery_current",
        "grid_meter/grid_power",
        "mppt1/pv_power",
    }
    assert counted_parts(keys) == {"": True, "vebus": False}
    assert counted_keys(keys) == {
        CHARGE,
        DISCHARGE,
        f"vebus/{CHARGE}",
        f"vebus/{DISCHARGE}",
    }
    # A voltage alone (an inverter's battery input) is no battery to count.
    assert counted_keys({"battery_voltage", "battery_soc", "pv_power"}) == set()


def test_totals_are_published_once_their_earlier_total_is_known() -> None:
    counts = DeviceBatteryEnergy()
    keys = {"battery_power"}
    for second in range(0, 3601, 5):
        now = T0 + second
        published = counts.count(
            _readings(now, battery_power=1000.0), keys, keys=keys, now=now
        )
        assert published == {}
    assert counts.total(CHARGE) is None
    counts.restore(CHARGE, 5000.0)
    counts.restore(DISCHARGE, None)
    # A second restore (the sensor re-added) does not add it twice.
    counts.restore(CHARGE, 5000.0)
    published = counts.readings(T0 + 3601)
    assert published[CHARGE].value == pytest.approx(6000.0)
    assert published[DISCHARGE].value == 0
    assert published[CHARGE].unit == "Wh"


def test_voltage_times_current_where_no_power_is_read() -> None:
    counts = DeviceBatteryEnergy()
    keys = {"pack1/battery_voltage", "pack1/battery_current"}
    for key in (f"pack1/{CHARGE}", f"pack1/{DISCHARGE}"):
        counts.restore(key, None)
    for second in range(0, 1801, 5):
        now = T0 + second
        counts.count(
            _readings(now, pack1__battery_voltage=50.0, pack1__battery_current=-40.0),
            keys,
            keys=keys,
            now=now,
        )
    assert counts.total(f"pack1/{DISCHARGE}") == pytest.approx(1000.0)
    assert counts.total(f"pack1/{CHARGE}") == 0


def test_a_power_not_read_is_not_counted_one_not_asked_for_is_skipped() -> None:
    counts = DeviceBatteryEnergy()
    keys = {"battery_power"}
    counts.restore(CHARGE, None)
    counts.count(_readings(T0, battery_power=3600.0), keys, keys=keys, now=T0)
    # Asked for and not read: the stretch ends.
    counts.count({}, keys, keys=keys, now=T0 + 5)
    counts.count(_readings(T0 + 10, battery_power=3600.0), keys, keys=keys, now=T0)
    assert counts.total(CHARGE) == 0
    # Not asked for (a slow-only poll): the stretch goes on.
    counts.count({}, set(), keys=keys, now=T0 + 15)
    counts.count(_readings(T0 + 20, battery_power=3600.0), keys, keys=keys, now=T0)
    assert counts.total(CHARGE) == pytest.approx(10.0)
    # The device fell silent: the stretch ends.
    counts.interrupt()
    counts.count(_readings(T0 + 25, battery_power=3600.0), keys, keys=keys, now=T0)
    assert counts.total(CHARGE) == pytest.approx(10.0)


class _Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _charging_site(clock: _Clock, surplus_w: float) -> Site:
    """Return a site whose battery takes a constant PV surplus, sensors exact."""
    profile = Profile.from_samples(
        [0.0, 3600.0], [500.0, 500.0], [500.0 + surplus_w, 500.0 + surplus_w]
    )
    battery = SimBattery(
        capacity_ah=200.0, initial_soc=0.3, current_offset_a=0.0, current_noise_a=0.0
    )
    return Site(profile, battery, start_time=clock.now, profile_offset_s=0.0)


@pytest.fixture
def clock() -> _Clock:
    """Return the wall clock of the site and of the driver."""
    return _Clock(T0)


@pytest.fixture
async def stack(clock: _Clock) -> AsyncIterator[tuple[Site, PylontechStackEmulator]]:
    """Serve a two-pack Pylontech stack whose battery charges at 3 kW."""
    site = _charging_site(clock, 3000.0)
    async with PylontechStackEmulator(
        site, sync=lambda: site.advance_to(clock.now)
    ) as emulator:
        yield site, emulator


async def _poll_for(
    driver: PylontechStack,
    counts: DeviceBatteryEnergy,
    clock: _Clock,
    seconds: int,
) -> None:
    """Poll every 5 s for ``seconds``, counting each poll."""
    keys = driver.available_keys()
    for _ in range(seconds // 5):
        clock.now += 5
        poll = await driver.async_poll(ALL_CADENCES)
        counts.count(poll.readings, poll.attempted, keys=keys, now=clock.now)


async def test_a_stack_charging_at_3_kw_for_10_minutes_counts_half_a_kwh(
    stack: tuple[Site, PylontechStackEmulator], clock: _Clock
) -> None:
    """The real protocol's frames, polled every 5 s: the stack and each pack."""
    site, emulator = stack
    driver = PylontechStack(
        SerialLink(parse_endpoint(emulator.url, baudrate=115200), timeout=0.2),
        emulator.address,
        wall_clock=clock,
    )
    await driver.async_identify()
    counts = DeviceBatteryEnergy()
    for key in counted_keys(driver.available_keys()):
        counts.restore(key, None)
    # The first sample once the battery takes its 3 kW.
    clock.now += 5
    poll = await driver.async_poll(ALL_CADENCES)
    keys = driver.available_keys()
    counts.count(poll.readings, poll.attempted, keys=keys, now=clock.now)
    truth_start = site.battery_charge_energy_wh
    await _poll_for(driver, counts, clock, 600)
    truth = site.battery_charge_energy_wh - truth_start
    assert truth == pytest.approx(500.0, rel=1e-6)
    # The BMS reports current in 0.1 A steps: 0.1 % of 29 A per pack.
    assert counts.total(CHARGE) == pytest.approx(truth, rel=1e-3)
    for pack in ("pack1", "pack2"):
        assert counts.total(f"{pack}/{CHARGE}") == pytest.approx(truth / 2, rel=1e-3)
        assert counts.total(f"{pack}/{DISCHARGE}") == 0

    # Pack 2 falls silent for 30 s: the stack's power is unknown and not
    # counted, pack 1 goes on; then pack 2 takes up again from its return.
    before = {key: counts.total(key) or 0.0 for key in counted_keys(keys)}
    emulator.silent_packs.add(2)
    await _poll_for(driver, counts, clock, 30)
    emulator.silent_packs.clear()
    await _poll_for(driver, counts, clock, 60)
    await driver.link.close()
    # Unknown from the last sample before to the first one after: 35 of 90 s.
    assert counts.total(CHARGE) == pytest.approx(
        before[CHARGE] + 3000.0 * 55 / 3600, rel=1e-2
    )
    assert counts.total(f"pack1/{CHARGE}") == pytest.approx(
        before[f"pack1/{CHARGE}"] + 1500.0 * 90 / 3600, rel=1e-2
    )
    assert counts.total(f"pack2/{CHARGE}") == pytest.approx(
        before[f"pack2/{CHARGE}"] + 1500.0 * 55 / 3600, rel=1e-2
    )


BATTERY_FAMILIES = (
    "sunspec",
    "victron_gx",
    "voltronic_pi30",
    "pylontech",
    "jk_pb",
    "daly",
    "pylontech_can",
)


async def test_every_battery_of_the_fleet_has_both_counters(
    site: SimulatedSite,
) -> None:
    """Each simulated battery family: its battery reports or gets both totals."""
    pool = LinkPool(timeout=1.0)
    found: dict[str, set[str]] = {}
    async with serve_fleet(site, 0) as served:
        for device in served:
            if device.family not in BATTERY_FAMILIES:
                continue
            async with served_driver(pool, device) as driver:
                await driver.async_identify()
                await driver.async_read()
            keys = driver.available_keys()
            found[device.family] = {
                key
                for key in keys | counted_keys(keys)
                if key.rpartition("/")[2] in (CHARGE, DISCHARGE)
            }
    assert set(found) == set(BATTERY_FAMILIES)
    for family, energy_keys in found.items():
        parts = {key.rpartition("/")[0] for key in energy_keys}
        assert parts, family
        for part in parts:
            prefix = f"{part}/" if part else ""
            assert {f"{prefix}{CHARGE}", f"{prefix}{DISCHARGE}"} <= energy_keys
