"""``eo node`` end to end: simulated Modbus devices, a real broker, a plain client.

The client speaks the documented envelope only (as a Node-RED flow would);
the device's registers are read from the simulator itself, never through
the node.
"""

from collections.abc import AsyncIterator
import json
from pathlib import Path
from typing import Any

import pytest

from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.servers import DeviceServer, serve_devices
from eo_lab.sim.simulated_site import SimulatedSite

from .conftest import Broker, mqtt_client, run_node, utc_now, write_config


@pytest.fixture
async def inverter(
    site: SimulatedSite,
) -> AsyncIterator[tuple[SunSpecInverterEmulator, DeviceServer]]:
    """Serve a SunSpec hybrid inverter at unit 1, following the simulated site."""
    emulator = SunSpecInverterEmulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        yield emulator, server


def _config(
    tmp_path: Path,
    broker: Broker,
    site: SimulatedSite,
    inverter_url: str,
    **failsafe: Any,
) -> Path:
    """Write the shed's config: the grid meter and the inverter."""
    return write_config(
        tmp_path,
        broker,
        {
            "node": "shed",
            "failsafe": {"heartbeat_timeout": 3, **failsafe},
            "components": [
                {
                    "id": "meter1",
                    "family": "sdm630",
                    "url": site.url,
                    "unit": 1,
                    "interval": 0.5,
                },
                {
                    "id": "inv1",
                    "family": "sunspec",
                    "url": inverter_url,
                    "unit": 1,
                    "interval": 0.5,
                },
            ],
        },
    )


def _limit(emulator: SunSpecInverterEmulator) -> tuple[Any, Any]:
    """Return the inverter's limit registers: (enabled, percent)."""
    controls = emulator.current_values(123)
    assert controls is not None
    return controls.get("WMaxLim_Ena"), controls.number("WMaxLimPct")


async def test_state_config_and_a_command_round_trip(
    tmp_path: Path,
    broker: Broker,
    site: SimulatedSite,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """The node publishes what the devices read and carries out a command."""
    emulator, server = inverter
    config = _config(tmp_path, broker, site, server.url)
    async with mqtt_client(broker) as client, run_node(config) as node:
        await client.wait_for(
            lambda: "online" in client.received("status"), what="online"
        )
        state = await client.state("meter1", available=True)
        expected = site.site.grid_meter_values()
        assert state["values"]["grid_power"]["unit"] == "W"
        assert state["values"]["grid_power"]["value"] == pytest.approx(
            expected["grid_power"], abs=max(50.0, abs(expected["grid_power"]) * 0.2)
        )
        assert state["values"]["ac_voltage_l1"]["value"] == pytest.approx(
            expected["ac_voltage_l1"], abs=1
        )
        described = await client.wait_for(
            lambda: client.received("inv1", "config"), what="config"
        )
        inv = described[-1]
        assert inv["family"] == "sunspec"
        assert inv["serial"] == "EO-SIM-INV-0001"
        assert inv["commands"]["active_power_limit"] == {
            "unit": "%",
            "minimum": 0.0,
            "maximum": 100.0,
            "step": 0.1,
        }

        answer = await client.request("inv1", "active_power_limit", {"value": 50})
        assert answer["values"] == {"active_power_limit": {"value": 50.0, "unit": "%"}}
        assert answer["node"] == "shed"
        assert answer["comp"] == "inv1"
        assert answer["parameters"] == {"value": 50}
        assert _limit(emulator) == (1, 50.0)
        # Ids that restart (a Node-RED counter after a deploy): the same id
        # with another request is a new request, carried out.
        await client.request("inv1", "active_power_limit", {"value": 60}, request_id=1)
        again = await client.request(
            "inv1", "active_power_limit", {"value": 55}, request_id=1
        )
        assert again["values"] == {"active_power_limit": {"value": 55.0, "unit": "%"}}
        assert _limit(emulator) == (1, 55.0)

        read = await client.request("inv1", "read")
        assert read["values"]["ac_power"]["unit"] == "W"
        identify = await client.request("inv1", "identify")
        assert identify["values"]["serial"]["value"] == "EO-SIM-INV-0001"
        assert await node.stop() == 0
        await client.wait_for(
            lambda: client.received("status")[-1] == "offline", what="offline"
        )
    assert "Traceback" not in node.output()


async def test_every_bad_request_is_answered_and_changes_nothing(
    tmp_path: Path,
    broker: Broker,
    site: SimulatedSite,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """Not JSON, no id, unknown component or command, out of limits, stale."""
    emulator, server = inverter
    config = _config(tmp_path, broker, site, server.url)
    async with mqtt_client(broker) as client, run_node(config) as node:
        await client.state("inv1", available=True)
        writes = len(emulator.writes)

        not_json = await client.send("inv1", b"{not json", None)
        assert not_json["error"]["code"] == "bad_json"
        assert not_json["request_id"] is None
        no_id = await client.send(
            "inv1",
            json.dumps({"time": utc_now(), "command": "read"}).encode(),
            None,
        )
        assert no_id["error"]["code"] == "bad_request"
        unknown_comp = await client.request("inv9", "read")
        assert unknown_comp["error"]["code"] == "unknown_component"
        unknown_command = await client.request("inv1", "self_destruct")
        assert unknown_command["error"]["code"] == "unknown_command"
        meter_limit = await client.request(
            "meter1", "active_power_limit", {"value": 50}
        )
        assert meter_limit["error"]["code"] == "unknown_command"
        too_high = await client.request("inv1", "active_power_limit", {"value": 150})
        assert too_high["error"]["code"] == "out_of_limits"
        assert "maximum" in too_high["error"]["message"]
        no_value = await client.request("inv1", "active_power_limit", {})
        assert no_value["error"]["code"] == "bad_request"
        stale = await client.request(
            "inv1", "active_power_limit", {"value": 10}, time="2026-01-01T00:00:00Z"
        )
        assert stale["error"]["code"] == "stale"
        other_comp = await client.send(
            "inv1",
            json.dumps(
                {
                    "request_id": "x1",
                    "time": utc_now(),
                    "comp": "meter1",
                    "command": "read",
                }
            ).encode(),
            "x1",
        )
        assert other_comp["error"]["code"] == "bad_request"

        assert len(emulator.writes) == writes
        assert _limit(emulator)[0] == 0
        still = await client.request("inv1", "read")
        assert "error" not in still
        assert node.process.returncode is None


async def test_a_device_that_stops_answering_is_unavailable_with_no_values(
    tmp_path: Path,
    broker: Broker,
    site: SimulatedSite,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
    closed_port: int,
) -> None:
    """No stale value is ever sent as current; a missing device says why."""
    _, server = inverter
    config = write_config(
        tmp_path,
        broker,
        {
            "node": "shed",
            "components": [
                {"id": "inv1", "family": "sunspec", "url": server.url, "interval": 0.5},
                {
                    "id": "ghost",
                    "family": "sdm630",
                    "url": f"tcp://127.0.0.1:{closed_port}",
                    "interval": 0.5,
                },
            ],
        },
    )
    async with mqtt_client(broker) as client, run_node(config):
        ghost = await client.state("ghost", available=False)
        assert "values" not in ghost
        assert ghost["error"]["code"] == "device_error"
        refused = await client.request("ghost", "read")
        assert refused["error"]["code"] == "device_error"
        await client.state("inv1", available=True)
        await server.stop()
        gone = await client.state("inv1", available=False)
        assert "values" not in gone
        await server.start()
        back = await client.state("inv1", available=True)
        assert back["values"]["ac_power"]["unit"] == "W"
