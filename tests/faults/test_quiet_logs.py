"""Logs under fault (issue 26, item 5): one warning, one info, no traceback."""

from collections.abc import AsyncIterator
import logging

from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from custom_components.energy_orchestrator.device.quiet_transport import (
    KnownTransportErrorFilter,
)
from eo_lab.faults.proxy import Fault, FaultProxy
from eo_lab.sim.devices.victron import DEFAULT_GX_SERIAL, SITE_UNITS, site_gx_emulator
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite

from .runner import GRID_POWER, complaints

_TCP_LOGGER = "tmodbus.transport.async_tcp"


async def _poll(hass: HomeAssistant, entry: MockConfigEntry, polls: int = 1) -> None:
    for _ in range(polls):
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()


def _shown(hass: HomeAssistant) -> bool:
    state = hass.states.get(GRID_POWER)
    return state is not None and state.state != STATE_UNAVAILABLE


async def test_a_reset_gateway_logs_one_warning_and_one_info(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await _poll(hass, entry)
    caplog.clear()

    # The gateway resets the connection and refuses new ones for three polls.
    await proxy.inject(Fault.REFUSE)
    await _poll(hass, entry, 3)
    assert not _shown(hass)
    await proxy.heal()
    await _poll(hass, entry, 2)
    assert _shown(hass)

    loud = complaints(caplog.records)
    assert [(r.levelname, r.name) for r in loud] == [
        ("WARNING", "custom_components.energy_orchestrator")
    ], [r.getMessage() for r in loud]
    assert loud[0].getMessage().startswith("Eastron SDM630 is unavailable: ")
    assert loud[0].exc_info is None
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert [r.levelname for r in recovered] == ["INFO"]
    # tmodbus said the connection was reset, at INFO rather than ERROR.
    resets = [
        r
        for r in caplog.records
        if r.name == _TCP_LOGGER and "connection lost due to error" in r.msg
    ]
    assert resets
    assert {r.levelname for r in resets} == {"INFO"}
    assert isinstance(resets[0].args, tuple)
    assert isinstance(resets[0].args[0], ConnectionResetError)


async def test_an_answer_after_its_timeout_is_info(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    proxy: FaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A blackholed gateway, back: the answers it held come late, quietly."""
    await _poll(hass, entry)
    await proxy.inject(Fault.BLACKHOLE)
    await _poll(hass, entry, 2)
    caplog.clear()
    await proxy.heal()
    await _poll(hass, entry, 2)
    late = [r for r in caplog.records if "unexpected response" in r.getMessage()]
    assert late
    assert {r.levelname for r in late} == {"INFO"}
    assert not complaints(caplog.records)


def _record(level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(_TCP_LOGGER, level, __file__, 1, msg, args, None)


# tmodbus' records and the level each must be logged at.
_CASES = (
    (
        _record(
            logging.ERROR,
            "Async TCP connection lost due to error: %s",
            ConnectionResetError(104, "Connection reset by peer"),
        ),
        logging.INFO,
    ),
    (
        _record(
            logging.ERROR,
            "Async TCP connection lost due to error: %s",
            ValueError("a bug"),
        ),
        logging.ERROR,
    ),
    (
        _record(
            logging.ERROR,
            "The PDU class returned an invalid expected length. %s",
            "00 01",
        ),
        logging.ERROR,
    ),
    (
        _record(
            logging.WARNING,
            "Received unexpected response with Transaction ID: %d. %s",
            3,
            "00 03",
        ),
        logging.INFO,
    ),
    (_record(logging.WARNING, "Invalid frame received: %s", "x"), logging.WARNING),
)


def test_only_known_network_events_are_lowered() -> None:
    for record, level in _CASES:
        assert KnownTransportErrorFilter().filter(record)
        assert (record.levelno, record.levelname) == (
            level,
            logging.getLevelName(level),
        ), record.msg


@pytest.fixture
async def gx_entry(
    hass: HomeAssistant, site: SimulatedSite
) -> AsyncIterator[tuple[MockConfigEntry, FaultProxy]]:
    """Add a Victron GX, whose parts are unit ids behind one gateway, via a proxy."""
    gx = site_gx_emulator(site.site, sync=site.sync)
    async with (
        serve_devices("127.0.0.1", 0, gx.sim_devices()) as server,
        FaultProxy(server.port) as proxy,
    ):
        added = MockConfigEntry(
            domain=DOMAIN,
            minor_version=2,
            unique_id=DEFAULT_GX_SERIAL,
            data={
                CONF_KIND: "device",
                CONF_CONNECTION: "tcp",
                "family": "victron_gx",
                CONF_HOST: "127.0.0.1",
                CONF_PORT: proxy.port,
                "unit_id": 100,
                "framing": "tcp",
            },
            title="Victron GX",
        )
        added.add_to_hass(hass)
        assert await hass.config_entries.async_setup(added.entry_id)
        await hass.async_block_till_done()
        yield added, proxy
        await hass.config_entries.async_unload(added.entry_id)
        await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param(Fault.EXCEPTION, 11, id="gateway"),
        pytest.param(Fault.STALL, 4, id="stall", marks=pytest.mark.slow),
    ],
)
async def test_a_silent_sub_device_logs_one_warning_and_one_info(
    hass: HomeAssistant,
    gx_entry: tuple[MockConfigEntry, FaultProxy],
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    code: int,
) -> None:
    """The solar charger behind the GX stops answering for five polls, then is back."""
    entry, proxy = gx_entry
    caplog.set_level(logging.DEBUG)
    await _poll(hass, entry)
    caplog.clear()

    await proxy.inject(fault, code=code, units={SITE_UNITS["solarcharger"]})
    await _poll(hass, entry, 5)
    assert entry.runtime_data.coordinator.last_update_success
    await proxy.heal()
    await _poll(hass, entry, 2)

    # One warning for five silent polls, whatever tmodbus and HA said.
    loud = complaints(caplog.records)
    assert [r.levelname for r in loud] == ["WARNING"], [r.getMessage() for r in loud]
    said = loud[0].getMessage()
    assert said.startswith("Victron GX: Solar charger 1 did not answer; its values")
    assert not [r for r in caplog.records if r.exc_info is not None]
    back = [r for r in caplog.records if "is answering again" in r.getMessage()]
    assert [r.levelname for r in back] == ["INFO"]
