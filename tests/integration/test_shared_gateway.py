"""One gateway that takes one client, read by this integration and by core's.

Most RS485-to-Ethernet gateways, and several inverters, serve one TCP client
at a time. Behind such a gateway (a proxy here, refusing a second client)
sit the site's SDM630 (unit 1) and a SunSpec inverter laid out as SolarEdge
lays one out (unit 2). This integration reads both; core's SolarEdge Modbus
integration, added through its own config flow, reads the inverter too. All
of them borrow their units from Home Assistant's shared connection: one
client for the gateway.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import logging
from typing import Any

from homeassistant.components.modbus.connection import async_get_connection_info
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.energy_orchestrator.const import DOMAIN
from custom_components.energy_orchestrator.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.chain import SUNS_MARKER
from custom_components.energy_orchestrator.lib.drivers.sunspec.codec import (
    END_MODEL_ID,
    encode_model,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.definitions import (
    model_definition,
)
from eo_lab.sim.devices.sunspec import register_image_device
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.conftest import SIM_SERIAL
from tests.integration.flows import add_device

METER_UNIT = 1
INVERTER_UNIT = 2
GRID_POWER = "sensor.eastron_sdm630_grid_power"
INVERTER_SERIAL = "7E1A2B3C"
INVERTER_POWER_W = 3120.0


def _solaredge_inverter() -> list[int]:
    """Return the registers from 40000 of a SolarEdge three-phase inverter.

    SunSpec's marker, the common model 1 in SolarEdge's 65 registers (no
    pad), the three-phase inverter 103 where SolarEdge keeps it (40069),
    and the end marker.
    """
    common = encode_model(
        model_definition(1),
        {
            "Mn": "SolarEdge",
            "Md": "SE8K-RW0TEBEN4",
            "Vr": "0004.0020.0036",
            "SN": INVERTER_SERIAL,
            "DA": INVERTER_UNIT,
        },
    )
    inverter = encode_model(
        model_definition(103),
        {
            **{f"Aph{phase}": 4.52 for phase in "ABC"},
            "A": 13.56,
            "A_SF": -2,
            **{f"PhVph{phase}": 230.1 for phase in "ABC"},
            "V_SF": -1,
            "W": INVERTER_POWER_W,
            "W_SF": 0,
            "Hz": 50.0,
            "Hz_SF": -2,
            "VA": INVERTER_POWER_W,
            "VA_SF": 0,
            "VAr": 0,
            "VAr_SF": 0,
            "PF": 100,
            "PF_SF": 0,
            "WH": 12_345_000,
            "WH_SF": 0,
            "DCA": 8.2,
            "DCA_SF": -2,
            "DCV": 390.0,
            "DCV_SF": -1,
            "DCW": 3200.0,
            "DCW_SF": 0,
            "TmpCab": 41.0,
            "TmpSnk": 45.0,
            "Tmp_SF": -1,
            "St": 4,
            "StVnd": 0,
            "Evt1": 0,
            "Evt2": 0,
        },
    )
    return [
        *SUNS_MARKER,
        1,
        65,
        *common[2:67],
        *inverter,
        END_MODEL_ID,
        0,
    ]


# Built on import: the model definitions are files, read outside the loop.
SOLAREDGE_INVERTER = _solaredge_inverter()


@dataclass
class OneClientGateway:
    """A TCP proxy to a Modbus server that serves one client at a time.

    A second client is closed at once, as such gateways do, and counted.
    """

    backend_port: int
    port: int = 0
    accepted: int = 0
    refused: int = 0
    _busy: bool = False
    _server: asyncio.Server | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        """Listen on a free local port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut the client, if one is connected."""
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Pipe the one client to the server; close any other at once."""
        if self._busy:
            self.refused += 1
            writer.close()
            return
        self._busy = True
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        backend_reader, backend_writer = await asyncio.open_connection(
            "127.0.0.1", self.backend_port
        )
        pipes = [
            asyncio.create_task(_pipe(reader, backend_writer)),
            asyncio.create_task(_pipe(backend_reader, writer)),
        ]
        try:
            # The slot is free as soon as either side hangs up.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            for end in (writer, backend_writer):
                end.close()
            self._busy = False
            self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until the reading end closes."""
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def gateway(site: SimulatedSite) -> AsyncIterator[OneClientGateway]:
    """The site's meter and a SunSpec inverter behind a one-client gateway."""
    devices = {
        METER_UNIT: site.grid_meter.sim_device(METER_UNIT),
        INVERTER_UNIT: register_image_device(INVERTER_UNIT, 40000, SOLAREDGE_INVERTER),
    }
    async with serve_devices("127.0.0.1", 0, devices) as server:
        proxy = OneClientGateway(server.port)
        await proxy.start()
        yield proxy
        await proxy.stop()


def _ours(port: int, unit: int) -> dict[str, Any]:
    """Return our connection form's input for a unit behind the gateway."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port,
        "more_options": {"unit_id": unit, "framing": "tcp"},
    }


async def _add_solaredge(hass: HomeAssistant, port: int, unit: int) -> ConfigEntry:
    """Add core's SolarEdge Modbus for a unit, through its config flow."""
    result = await hass.config_entries.flow.async_init(
        "solaredge_modbus", context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "tcp"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            "more_options": {"unit_id": unit},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    return entry


def _ac_power(hass: HomeAssistant, entry: ConfigEntry) -> float:
    """Return the inverter's AC power as an entry's sensor shows it."""
    registry = er.async_get(hass)
    (power,) = [
        registered.entity_id
        for registered in er.async_entries_for_config_entry(registry, entry.entry_id)
        if registered.unique_id == f"{INVERTER_SERIAL}_ac_power"
    ]
    state = hass.states.get(power)
    assert state is not None
    return float(state.state)


async def test_both_integrations_read_through_one_client(
    hass: HomeAssistant,
    gateway: OneClientGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    meter = await add_device(hass, "tcp", "sdm630", _ours(gateway.port, METER_UNIT))
    assert meter["type"] is FlowResultType.CREATE_ENTRY, meter
    inverter = await add_device(
        hass, "tcp", "sunspec", _ours(gateway.port, INVERTER_UNIT)
    )
    assert inverter["type"] is FlowResultType.CREATE_ENTRY, inverter
    await hass.async_block_till_done()
    solaredge = await _add_solaredge(hass, gateway.port, INVERTER_UNIT)

    ours = hass.config_entries.async_entries(DOMAIN)
    assert {entry.unique_id for entry in ours} == {SIM_SERIAL, INVERTER_SERIAL}
    assert [e.state for e in [*ours, solaredge]] == [ConfigEntryState.LOADED] * 3

    # Every coordinator polls at once, a few times over. (Called directly:
    # firing mocked time would also fire the timeouts of requests in flight.)
    connections_before = gateway.accepted
    coordinators = [
        *(entry.runtime_data.coordinator for entry in ours),
        solaredge.runtime_data.readings,
        solaredge.runtime_data.settings,
    ]
    for _ in range(5):
        await asyncio.gather(*(c.async_refresh() for c in coordinators))
        await hass.async_block_till_done()
    assert all(c.last_update_success for c in coordinators)

    assert hass.states.get(GRID_POWER).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
    # Core's integration and this one show the inverter alike.
    assert _ac_power(hass, solaredge) == INVERTER_POWER_W
    assert _ac_power(hass, inverter["result"]) == INVERTER_POWER_W
    # One client at a time, and one connection for all of the polling.
    assert gateway.refused == 0
    assert gateway.accepted == connections_before
    (connection,) = async_get_connection_info(hass)
    assert connection.connected
    assert connection.units == {
        meter["result"].entry_id: [METER_UNIT],
        inverter["result"].entry_id: [INVERTER_UNIT],
        solaredge.entry_id: [INVERTER_UNIT],
    }
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    diagnostics = await async_get_config_entry_diagnostics(hass, meter["result"])
    assert diagnostics["connection"]["shared_with"] == [
        {"domain": DOMAIN, "units": [INVERTER_UNIT]},
        {"domain": "solaredge_modbus", "units": [INVERTER_UNIT]},
    ]

    for entry in [*ours, solaredge]:
        assert await hass.config_entries.async_unload(entry.entry_id)
    assert async_get_connection_info(hass) == []


async def test_the_gateway_takes_one_client(gateway: OneClientGateway) -> None:
    """The proxy refuses a second client while the first is connected."""
    _, first = await asyncio.open_connection("127.0.0.1", gateway.port)
    second_reader, second = await asyncio.open_connection("127.0.0.1", gateway.port)
    assert await second_reader.read() == b""
    assert (gateway.accepted, gateway.refused) == (1, 1)
    for writer in (first, second):
        writer.close()
