"""The config flow, probing pymodbus' real server."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeassistant.components.modbus.connection import async_get_connection_info
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.conftest import SIM_SERIAL
from tests.integration.flows import add_device, open_connection_form
from tests.integration.texts import errors_shown


def _tcp_input(port: int, unit: int = 1, framing: str = "tcp") -> dict[str, Any]:
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port,
        "more_options": {"unit_id": unit, "framing": framing},
    }


async def _start_tcp(hass: HomeAssistant, family: str = "sdm630") -> str:
    """Open the network connection form of a family; return the flow's id."""
    result = await open_connection_form(hass, "tcp", family)
    flow_id: str = result["flow_id"]
    return flow_id


async def test_add_meter_over_tcp(hass: HomeAssistant, site: SimulatedSite) -> None:
    flow_id = await _start_tcp(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _tcp_input(site.port)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Eastron SDM630"
    assert result["result"].unique_id == SIM_SERIAL
    assert result["data"] == {
        CONF_KIND: "device",
        CONF_CONNECTION: "tcp",
        "family": "sdm630",
        CONF_HOST: "127.0.0.1",
        CONF_PORT: site.port,
        "unit_id": 1,
        "framing": "tcp",
    }
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_unreachable_host_then_recover(
    hass: HomeAssistant, closed_port: int, site: SimulatedSite
) -> None:
    flow_id = await _start_tcp(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _tcp_input(closed_port)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert (
        "cannot connect to tcp://127.0.0.1"
        in result["description_placeholders"]["error"]
    )

    # The form keeps what was typed, and a corrected port goes through.
    result = await hass.config_entries.flow.async_configure(
        flow_id, _tcp_input(site.port)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_silent_unit(hass: HomeAssistant, site: SimulatedSite) -> None:
    flow_id = await _start_tcp(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _tcp_input(site.port, unit=17)
    )
    assert result["errors"] == {"base": "no_response"}
    assert "unit 17" in result["description_placeholders"]["error"]


async def test_device_of_another_family(hass: HomeAssistant) -> None:
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    single_phase = SDM630Emulator(12000001, lambda: values, holes={0x0002, 0x0003})
    async with serve_devices("127.0.0.1", 0, {1: single_phase.device}) as server:
        flow_id = await _start_tcp(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id, _tcp_input(server.port)
        )
    assert result["errors"] == {"base": "wrong_device"}


async def test_rtu_over_tcp_and_serial_url(hass: HomeAssistant) -> None:
    """An RS485 gateway passing RTU frames, reached two ways."""
    async with SimulatedSite(host="127.0.0.1", port=0, framing="rtu") as site:
        flow_id = await _start_tcp(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id, _tcp_input(site.port, framing="rtu-over-tcp")
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["framing"] == "rtu-over-tcp"
        await hass.config_entries.async_remove(result["result"].entry_id)

        # The same gateway as a "serial port" through pyserial's socket:// URL.
        result = await _add_serial(
            hass, _serial_input(f"socket://127.0.0.1:{site.port}")
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_CONNECTION] == "serial"
        await hass.config_entries.async_unload(result["result"].entry_id)


async def test_invalid_serial_url(hass: HomeAssistant) -> None:
    result = await _add_serial(hass, _serial_input("http://example:80"))
    assert result["errors"] == {"base": "invalid_address"}
    assert "unknown scheme 'http'" in result["description_placeholders"]["error"]


async def test_already_configured(hass: HomeAssistant, site: SimulatedSite) -> None:
    MockConfigEntry(
        domain=DOMAIN, minor_version=2, unique_id=SIM_SERIAL, data={}
    ).add_to_hass(hass)
    flow_id = await _start_tcp(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _tcp_input(site.port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.fixture
def entry_data() -> dict[str, Any]:
    return {
        CONF_KIND: "device",
        CONF_CONNECTION: "tcp",
        "family": "sdm630",
        CONF_HOST: "127.0.0.1",
        CONF_PORT: 1,
        "unit_id": 1,
        "framing": "tcp",
    }


async def test_reconfigure_to_a_new_address(
    hass: HomeAssistant, site: SimulatedSite, entry_data: dict[str, Any]
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, minor_version=2, unique_id=SIM_SERIAL, data=entry_data
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _tcp_input(site.port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == site.port
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_refuses_another_device(
    hass: HomeAssistant, site: SimulatedSite, entry_data: dict[str, Any]
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, minor_version=2, unique_id="99999999", data=entry_data
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _tcp_input(site.port)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "another_device"
    assert entry.data[CONF_PORT] == 1


async def test_silent_unit_behind_ser2net_hints_at_its_line_speed(
    hass: HomeAssistant,
) -> None:
    """ser2net sets the line speed: the form's baud rate is not to blame."""
    async with SimulatedSite(host="127.0.0.1", port=0, framing="rtu") as site:
        result = await _add_serial(
            hass,
            _serial_input(f"socket://127.0.0.1:{site.port}", unit=5, baudrate=19200),
        )
    assert result["errors"] == {"base": "no_response"}
    assert errors_shown(result)["base"].startswith(
        "The connection works, but no device answered at this unit ID: "
    )
    assert result["description_placeholders"]["error"].endswith(
        "(ser2net sets the line speed, and Eastron SDM630 (three-phase meter)"
        " usually runs at 9600 baud)"
    )


async def test_generic_device_from_a_register_map(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    register_map = (
        Path(__file__).parents[1] / "fixtures" / "generic" / "sdm630_map.json"
    ).read_text()
    flow_id = await _start_tcp(hass, "generic")
    user_input = _tcp_input(site.port) | {"register_map": ""}
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["errors"] == {"base": "invalid_register_map"}
    assert "needs a register map" in result["description_placeholders"]["error"]

    user_input["register_map"] = register_map.replace('"float32"', '"float33"', 1)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["errors"] == {"base": "invalid_register_map"}
    assert "points[0].type" in result["description_placeholders"]["error"]

    user_input["register_map"] = register_map
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["register_map"] == register_map
    await hass.async_block_till_done()
    assert hass.states.get("sensor.eastron_sdm630_described_by_hand_grid_power")
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_two_alike_daly_boards_are_two_devices(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """A Daly reports no serial number: where it is reached tells two apart."""
    from eo_lab.sim.devices.bms import EMULATORS

    async with (
        EMULATORS["daly"](site.site, sync=site.sync, host="127.0.0.1", port=0) as one,
        EMULATORS["daly"](site.site, sync=site.sync, host="127.0.0.1", port=0) as two,
    ):
        unique_ids = []
        for bms in (one, two):
            result = await add_device(
                hass,
                "serial",
                "daly",
                {
                    CONF_DEVICE: bms.url,
                    "baudrate": 9600,
                    "more_options": {"bms_address": 1},
                },
            )
            assert result["type"] is FlowResultType.CREATE_ENTRY, result
            unique_ids.append(result["result"].unique_id)
            await hass.async_block_till_done()
        assert unique_ids[0] != unique_ids[1]
        assert unique_ids[0].startswith("16S")
        for entry in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(entry.entry_id)


def _meter(serial: int) -> SDM630Emulator:
    """Return a three-phase meter showing steady values."""
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    return SDM630Emulator(serial, lambda: values)


@pytest.fixture
async def rtu_bus() -> AsyncIterator[str]:
    """Two meters (units 1 and 2) on an RS485 bus behind ser2net; its URL."""
    devices = {1: _meter(11000001).device, 2: _meter(22000002).device}
    async with serve_devices("127.0.0.1", 0, devices, framing="rtu") as server:
        yield f"socket://127.0.0.1:{server.port}"


def _serial_input(url: str, unit: int = 1, baudrate: int = 9600) -> dict[str, Any]:
    return {
        CONF_DEVICE: url,
        "baudrate": baudrate,
        "more_options": {"unit_id": unit},
    }


async def _add_serial(hass: HomeAssistant, user_input: dict[str, Any]) -> Any:
    """Add a three-phase meter on a serial port; return the flow's result."""
    return await add_device(hass, "serial", "sdm630", user_input)


async def _start_reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    """Open the reconfigure form of an entry the flow added."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )


@pytest.fixture
async def meter_on_bus(hass: HomeAssistant, rtu_bus: str) -> AsyncIterator[ConfigEntry]:
    """Unit 1 of the bus, added and running at 9600 baud."""
    result = await _add_serial(hass, _serial_input(rtu_bus))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_bus_runs_at_one_baud_rate(
    hass: HomeAssistant, rtu_bus: str, meter_on_bus: ConfigEntry
) -> None:
    result = await _add_serial(hass, _serial_input(rtu_bus, unit=2, baudrate=19200))
    assert result["errors"] == {"base": "bus_settings_conflict"}
    assert errors_shown(result)["base"].startswith(
        "This bus is already in use by another device at other line settings:"
    )
    assert (
        "one bus runs at one baud rate" in result["description_placeholders"]["error"]
    )
    # At the bus's own rate the second meter is added beside the first.
    result = await _add_serial(hass, _serial_input(rtu_bus, unit=2))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == "22000002"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_an_entry_at_another_baud_rate_does_not_set_up(
    hass: HomeAssistant, rtu_bus: str, meter_on_bus: ConfigEntry
) -> None:
    """Its bus is held at 9600 baud: the entry says so, translated."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id="22000002",
        data={
            CONF_KIND: "device",
            CONF_CONNECTION: "serial",
            "family": "sdm630",
            CONF_DEVICE: rtu_bus,
            "baudrate": 19200,
            "unit_id": 2,
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert entry.reason.startswith("This bus is already in use at other line settings")
    assert "one bus runs at one baud rate" in entry.reason


async def test_an_unexpected_probe_error_is_shown_and_the_link_released(
    hass: HomeAssistant,
    site: SimulatedSite,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(self: SDM630) -> None:
        raise RuntimeError("decoder broke")

    monkeypatch.setattr(SDM630, "async_identify", broken)
    flow_id = await _start_tcp(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _tcp_input(site.port)
    )
    assert errors_shown(result) == {"base": "Unexpected error: decoder broke"}
    assert "Unexpected error probing tcp://127.0.0.1" in caplog.text
    assert async_get_connection_info(hass) == []


async def test_reconfigure_keeps_the_entry_when_nothing_answers(
    hass: HomeAssistant, closed_port: int, entry_data: dict[str, Any]
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, minor_version=2, unique_id=SIM_SERIAL, data=entry_data
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _tcp_input(closed_port)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data == entry_data


async def test_reconfigure_moves_a_running_meter_to_another_baud_rate(
    hass: HomeAssistant, rtu_bus: str, meter_on_bus: ConfigEntry
) -> None:
    """Its own link holds the bus at 9600: it lets go for the probe at 19200."""
    result = await _start_reconfigure(hass, meter_on_bus)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _serial_input(rtu_bus, baudrate=19200)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert meter_on_bus.data["baudrate"] == 19200
    assert meter_on_bus.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    ("unit", "outcome"),
    [(5, "no_response"), (2, "another_device")],
)
async def test_reconfigure_that_fails_puts_the_meter_back_on_its_bus(
    hass: HomeAssistant,
    rtu_bus: str,
    meter_on_bus: ConfigEntry,
    unit: int,
    outcome: str,
) -> None:
    """Silence, or another meter, at 19200: the entry runs again at 9600."""
    result = await _start_reconfigure(hass, meter_on_bus)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _serial_input(rtu_bus, unit=unit, baudrate=19200)
    )
    if outcome == "no_response":
        assert result["errors"] == {"base": "no_response"}
    else:
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "another_device"
    await hass.async_block_till_done()
    assert meter_on_bus.data["baudrate"] == 9600
    assert meter_on_bus.state is ConfigEntryState.LOADED


async def test_reconfigure_to_an_unusable_address_leaves_the_meter_running(
    hass: HomeAssistant, meter_on_bus: ConfigEntry
) -> None:
    result = await _start_reconfigure(hass, meter_on_bus)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _serial_input("http://example:80")
    )
    assert result["errors"] == {"base": "invalid_address"}
    assert meter_on_bus.state is ConfigEntryState.LOADED


async def test_a_deeply_nested_register_map_is_a_form_error(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """JSON nested beyond what the parser follows: an error on the form, not a 500."""
    flow_id = await _start_tcp(hass, "generic")
    user_input = _tcp_input(site.port) | {"register_map": "[" * 100_000 + "]" * 100_000}
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["errors"] == {"base": "invalid_register_map"}
    assert "nested too deeply" in result["description_placeholders"]["error"]


@pytest.mark.parametrize(
    ("family", "user_input"),
    [
        ("sdm630", _serial_input("loop://")),
        (
            "pylontech",
            {
                CONF_DEVICE: "loop://",
                "baudrate": 115200,
                "more_options": {"pack_address": 2},
            },
        ),
        ("voltronic_pi30", {CONF_DEVICE: "loop://", "baudrate": 2400}),
    ],
)
async def test_a_loopback_serial_device_is_a_form_error(
    hass: HomeAssistant, family: str, user_input: dict[str, Any]
) -> None:
    """pyserial's ``loop://`` echoes every request: no device, a translated error."""
    result = await add_device(hass, "serial", family, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"]
    assert result["errors"]["base"] != "unknown"
