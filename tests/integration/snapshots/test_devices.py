"""Snapshots of every simulated device family's entities, and of diagnostics.

Each family is added through the config flow, as a user adds it, against the
simulator's fleet; its entities (registry entries and states) and devices,
platform by platform, are compared with the snapshots in ``__snapshots__``.

The values are a pure function of the pinned simulated moment: the site's
clock stands still at ``SIM_START`` after a fixed run-in, and the wallbox,
on the site's clock, counts its energy over the same stopped clock. Every
entity has a translated name. Home Assistant's time is not
frozen here: its test harness runs the event loop on freezegun's clock, and
the Modbus and serial links need the loop's timers (request spacing,
timeouts) to run.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
import re
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props
from syrupy.types import PropertyPath, SerializableData

from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Protocol,
)
from eo_lab.sim import fleet
from eo_lab.sim.simulated_site import SimulatedSite

from ..flows import add_device as add_through_flow
from .conftest import OnlyPlatform

# Midday in June: the battery takes the PV surplus, the grid balances near 0 W.
SIM_START = datetime(2026, 6, 1, 12, tzinfo=UTC).timestamp()
# The site runs this long before it is served, so the battery has moved and
# the energy counters have counted.
RUN_IN_S = 300.0
_LOCAL_ADDRESS = re.compile(r"127\.0\.0\.1:\d+")

# What each family the simulator serves has, platform by platform.
FAMILY_PLATFORMS: dict[str, tuple[Platform, ...]] = {
    "sdm630": (Platform.SENSOR,),
    "sunspec": (Platform.SENSOR, Platform.NUMBER),
    "sdm120": (Platform.SENSOR,),
    "sdm72": (Platform.SENSOR,),
    "victron_gx": (Platform.SENSOR, Platform.NUMBER),
    "alfen": (Platform.SENSOR, Platform.NUMBER, Platform.SWITCH),
    "voltronic_pi30": (Platform.SENSOR, Platform.NUMBER, Platform.SELECT),
    "pylontech": (Platform.SENSOR,),
    "jk_pb": (Platform.SENSOR,),
    "daly": (Platform.SENSOR,),
    "pylontech_can": (Platform.SENSOR,),
}


@pytest.fixture
async def pinned_fleet() -> AsyncIterator[dict[str, fleet.Served]]:
    """Serve the simulator's whole fleet, by family, at a moment that does not move."""
    async with (
        SimulatedSite(
            host="127.0.0.1", port=0, clock=lambda: SIM_START, start_time=SIM_START
        ) as sim,
        fleet.serve_fleet(sim, 0) as served,
    ):
        # Run in with the fleet on the site (the car in the meter). The
        # clock stands still: once the model is past it, the syncs the
        # requests make leave the model where it is.
        sim.site.advance_to(SIM_START + RUN_IN_S)
        yield {device.family: device for device in served}


def _form(device: fleet.Served) -> tuple[str, dict[str, Any]]:
    """Return how a served device is reached and what a user types for it."""
    family = FAMILIES[device.family]
    address = {} if family.address is None else {family.address.value: device.unit}
    if family.protocol is Protocol.CAN:
        # An slcan adapter behind ser2net.
        return "can", {
            "interface": "slcan",
            "channel": device.url,
            "bitrate": family.default_bitrate,
            "more_options": {"keepalive": False},
        }
    if family.protocol is Protocol.MODBUS:
        url = urlsplit(device.url)
        return "tcp", {
            CONF_HOST: url.hostname,
            CONF_PORT: url.port,
            "more_options": address | {"framing": "tcp"},
        }
    return "serial", {
        CONF_DEVICE: device.url,
        "baudrate": family.default_baudrate,
        **({"more_options": address} if address else {}),
    }


async def add_device(hass: HomeAssistant, device: fleet.Served) -> ConfigEntry[Any]:
    """Add a served device through the config flow; return its loaded entry."""
    connection, form = _form(device)
    result = await add_through_flow(hass, connection, device.family, form)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    return entry


def free_port(*, data: SerializableData, path: PropertyPath) -> SerializableData:
    """Write ``<port>`` for the free local port a test got, wherever a string has it.

    A Daly reports no serial number, so where it is reached is part of its
    unique id; diagnostics name the link.
    """
    if isinstance(data, str):
        return _LOCAL_ADDRESS.sub("127.0.0.1:<port>", data)
    return data


async def test_every_family_of_the_fleet_is_snapshotted(
    pinned_fleet: dict[str, fleet.Served],
) -> None:
    """A family added to the simulator needs its snapshots here too."""
    assert set(pinned_fleet) == set(FAMILY_PLATFORMS)


@pytest.fixture
def served_device(
    request: pytest.FixtureRequest, pinned_fleet: dict[str, fleet.Served]
) -> fleet.Served:
    """Return the device of the family the test is parametrized with."""
    family: str = request.param
    return pinned_fleet[family]


@pytest.mark.parametrize(
    ("served_device", "platform"),
    [
        (family, platform)
        for family, platforms in FAMILY_PLATFORMS.items()
        for platform in platforms
    ],
    indirect=["served_device"],
)
async def test_entities(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    only_platform: OnlyPlatform,
    served_device: fleet.Served,
    platform: Platform,
) -> None:
    """The family's entities of one platform, as a user adds the device."""
    only_platform("device", platform)
    entry = await add_device(hass, served_device)
    snapshot = snapshot.with_defaults(matcher=free_port)
    entity_registry = er.async_get(hass)
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    # A command or a canonical key without a translation shows as the bare
    # device name (number.alfen_eve_ng910).
    for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        assert entity.original_name, (entity.entity_id, entity.translation_key)
    if platform is Platform.SENSOR:
        # The device and its sub-devices (MPPTs, packs, a GX's devices).
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        ):
            assert device == snapshot(name=f"{device.name}-device")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    pinned_fleet: dict[str, fleet.Served],
) -> None:
    """What a support request gets from the grid meter's entry, as downloaded."""
    entry = await add_device(hass, pinned_fleet["sdm630"])
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    # The port is a free one; readings carry the wall-clock time of the poll.
    assert diagnostics == snapshot(
        exclude=props("port", "timestamp"), matcher=free_port
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_can_battery_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    pinned_fleet: dict[str, fleet.Served],
) -> None:
    """What a support request gets from a CAN battery: the latest frames, the flags."""
    entry = await add_device(hass, pinned_fleet["pylontech_can"])
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    # The battery broadcasts: how many frames came depends on the test's pace.
    assert diagnostics == snapshot(
        exclude=props(
            "port", "timestamp", "frames_received", "bytes_received", "requests"
        ),
        matcher=free_port,
    )
    assert diagnostics["driver"]["frames"]["0x359"]["fresh"] is True
    assert await hass.config_entries.async_unload(entry.entry_id)
