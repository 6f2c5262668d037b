"""A PI30 inverter behind ``eo node``: raw queries decoded, settings handed back.

The inverter is the simulator's, reached as ser2net would serve it
(``socket://``); its settings are read from the emulator itself.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
import time

import pytest

from eo_lab.sim.devices.voltronic import VoltronicEmulator, serve_voltronic
from eo_lab.sim.simulated_site import SimulatedSite

from .conftest import Broker, mqtt_client, run_node, write_config


@pytest.fixture
async def inverter(site: SimulatedSite) -> AsyncIterator[VoltronicEmulator]:
    """Serve a simulated PI30 inverter on a free port."""
    async with serve_voltronic("127.0.0.1", 0, site.site, sync=site.sync) as emulator:
        yield emulator


async def test_raw_queries_and_the_settings_it_had_before(
    tmp_path: Path, broker: Broker, inverter: VoltronicEmulator
) -> None:
    """QPIGS and QID answer decoded; the fail-safe puts POP back as it was."""
    config = write_config(
        tmp_path,
        broker,
        {
            "node": "shed",
            "failsafe": {"heartbeat_timeout": 30},
            "components": [
                {
                    "id": "axpert",
                    "family": "voltronic_pi30",
                    "url": inverter.url,
                    "interval": 1,
                }
            ],
        },
    )
    async with mqtt_client(broker) as client, run_node(config):
        await client.state("axpert", available=True)
        qpigs = await client.request("axpert", "QPIGS")
        assert qpigs["values"]["grid_voltage"]["unit"] == "V"
        assert qpigs["values"]["battery_voltage"]["value"] > 40
        qid = await client.request("axpert", "QID")
        assert qid["values"] == {
            "serial_number": {"value": "92932105105335", "unit": ""}
        }
        before = inverter.settings.output_source_priority
        described = client.received("axpert", "config")[-1]
        options = described["commands"]["output_source_priority"]["options"]
        await client.mqtt.publish(client.topic("heartbeat"), "alive", qos=1)
        # SBU (2) at first: set utility first, the one the emulator starts away from.
        assert before == 2
        assert "utility" in options
        answer = await client.request(
            "axpert", "output_source_priority", {"value": "utility"}
        )
        assert answer["values"] == {
            "output_source_priority": {"value": "utility", "unit": ""}
        }
        assert inverter.settings.output_source_priority != before
        await client.mqtt.publish("homeassistant/status", "offline", qos=1)
        deadline = time.monotonic() + 10
        while inverter.settings.output_source_priority != before:
            assert time.monotonic() < deadline, "the setting was not put back"
            await asyncio.sleep(0.1)
        event = await client.wait_for(lambda: client.received("event"), what="event")
        assert (
            event[0]["components"]["axpert"][0]["command"] == "output_source_priority"
        )
        assert event[0]["components"]["axpert"][0]["value"] == "sbu"
