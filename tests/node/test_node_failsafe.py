"""The fail-safe, the will, a restarted broker and the ACL, against a real broker.

Every safe action is read back from the simulated inverter's registers, not
from anything the node says.
"""

import asyncio
from collections.abc import AsyncIterator
import contextlib
import json
from pathlib import Path
import signal
import time
from typing import Any

import aiomqtt
import pytest

from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.servers import DeviceServer, serve_devices
from eo_lab.sim.simulated_site import SimulatedSite

from .conftest import (
    Broker,
    Client,
    NodeProcess,
    failsafe_events,
    heartbeat,
    mqtt_client,
    run_node,
    utc_now,
    wait_until,
    write_config,
)

TIMEOUT_S = 3.0
INTERVAL_S = 0.5


@pytest.fixture
async def inverter(
    site: SimulatedSite,
) -> AsyncIterator[tuple[SunSpecInverterEmulator, DeviceServer]]:
    """Serve a SunSpec hybrid inverter at unit 1."""
    emulator = SunSpecInverterEmulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        yield emulator, server


def _config(
    tmp_path: Path, broker: Broker, url: str, node: str = "shed", **failsafe: Any
) -> Path:
    """Write a node config with the inverter alone."""
    return write_config(
        tmp_path,
        broker,
        {
            "node": node,
            "failsafe": {"heartbeat_timeout": TIMEOUT_S, **failsafe},
            "components": [
                {"id": "inv1", "family": "sunspec", "url": url, "interval": INTERVAL_S}
            ],
        },
    )


def _limit(emulator: SunSpecInverterEmulator) -> tuple[Any, Any]:
    """Return the inverter's limit registers: (enabled, percent)."""
    controls = emulator.current_values(123)
    assert controls is not None
    return controls.get("WMaxLim_Ena"), controls.number("WMaxLimPct")


@contextlib.asynccontextmanager
async def _shed(
    tmp_path: Path, broker: Broker, server: DeviceServer, **failsafe: Any
) -> AsyncIterator[tuple[Client, NodeProcess]]:
    """Run node shed with the inverter and a client; yield once the inverter is read."""
    async with (
        mqtt_client(broker) as client,
        run_node(_config(tmp_path, broker, server.url, **failsafe)) as node,
    ):
        await client.state("inv1", available=True)
        yield client, node


@pytest.mark.slow
async def test_heartbeat_stopping_releases_the_limit_and_its_return_hands_back(
    tmp_path: Path,
    broker: Broker,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """The limit is disabled within the timeout plus one poll, then control returns."""
    emulator, server = inverter
    async with _shed(tmp_path, broker, server) as (client, _):
        async with heartbeat(client):
            answer = await client.request("inv1", "active_power_limit", {"value": 40})
            assert answer["values"]["active_power_limit"]["value"] == 40.0
            await asyncio.sleep(TIMEOUT_S + 1)
            # A heartbeat that keeps coming holds the limit.
            assert _limit(emulator) == (1, 40.0)
            assert not failsafe_events(client, "entered")
        stopped = time.monotonic()
        await wait_until(
            lambda: _limit(emulator)[0] == 0, TIMEOUT_S + INTERVAL_S + 2, "release"
        )
        released_after = time.monotonic() - stopped
        assert released_after <= TIMEOUT_S + INTERVAL_S + 1.0
        entered = await client.wait_for(
            lambda: failsafe_events(client, "entered"), what="failsafe"
        )
        assert entered[0]["reason"] == "heartbeat_missing"
        assert entered[0]["components"]["inv1"] == [
            {"command": "active_power_limit", "value": 100.0}
        ]
        refused = await client.request("inv1", "active_power_limit", {"value": 30})
        assert refused["error"]["code"] == "failsafe"
        assert _limit(emulator)[0] == 0
        async with heartbeat(client):
            await client.wait_for(
                lambda: failsafe_events(client, "left"), what="failsafe left"
            )
            again = await client.request("inv1", "active_power_limit", {"value": 30})
            assert again["values"]["active_power_limit"]["value"] == 30.0
            assert _limit(emulator) == (1, 30.0)


@pytest.mark.slow
async def test_home_assistant_offline_applies_the_configured_commands_at_once(
    tmp_path: Path,
    broker: Broker,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """Home Assistant's will trips at once; a fixed safe action is written."""
    emulator, server = inverter
    safe = {"inv1": [{"command": "active_power_limit", "value": 10}]}
    async with _shed(tmp_path, broker, server, safe_actions=safe) as (client, _):
        async with heartbeat(client):
            await client.request("inv1", "active_power_limit", {"value": 70})
            await client.mqtt.publish("homeassistant/status", "offline", qos=1)
            took = await wait_until(
                lambda: _limit(emulator) == (1, 10.0), TIMEOUT_S, "the safe action"
            )
        assert took < TIMEOUT_S
        entered = await client.wait_for(
            lambda: failsafe_events(client, "entered"), what="event"
        )
        assert entered[0]["reason"] == "home_assistant_offline"


async def test_killed_node_shows_offline_through_its_will(
    tmp_path: Path,
    broker: Broker,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """SIGKILL leaves no time to say goodbye: the broker publishes the will."""
    _, server = inverter
    async with _shed(tmp_path, broker, server) as (client, node):
        assert client.received("status")[-1] == "online"
        await node.stop(signal.SIGKILL)
        killed = time.monotonic()
        await client.wait_for(lambda: client.received("status")[-1] == "offline", 5)
        assert time.monotonic() - killed < 3
    async with mqtt_client(broker) as late:
        # Retained: a client that comes later sees it too.
        await late.wait_for(lambda: late.received("status") == ["offline"], 5)


async def test_one_nodes_credentials_cannot_command_another_node(
    tmp_path: Path,
    broker: Broker,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """barn's user publishes a request to shed's inverter: the broker drops it."""
    emulator, server = inverter
    async with (
        mqtt_client(broker, "barn") as barn,
        _shed(tmp_path, broker, server) as (client, _),
    ):
        writes = len(emulator.writes)
        body = {
            "request_id": "from-barn",
            "time": utc_now(),
            "command": "active_power_limit",
            "parameters": {"value": 5},
        }
        await barn.mqtt.publish(
            client.topic("inv1", "request"), json.dumps(body), qos=1
        )
        await asyncio.sleep(2)
        assert not [
            r
            for r in client.received("inv1", "response")
            if r["request_id"] == "from-barn"
        ]
        assert len(emulator.writes) == writes
        # barn reads nothing of shed's either.
        assert not any(
            topic.startswith("energy_orchestrator/shed/") for topic in barn.messages
        )
        # The same request from Home Assistant's user is carried out: the
        # test above could have failed.
        answer = await client.request("inv1", "active_power_limit", {"value": 5})
        assert answer["values"]["active_power_limit"]["value"] == 5.0


@pytest.mark.slow
async def test_broker_restart_reconnects_and_applies_nothing_late(
    tmp_path: Path,
    broker: Broker,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """The node comes back online; an old request is refused, a new one runs once."""
    emulator, server = inverter
    async with run_node(_config(tmp_path, broker, server.url)) as node:
        async with mqtt_client(broker) as client:
            await client.state("inv1", available=True)
        broker.stop()
        await asyncio.sleep(2)
        broker.start()
        async with mqtt_client(broker) as client:
            await client.wait_for(lambda: client.received("status") == ["online"], 20)
            await client.state("inv1", available=True)
            writes = len(emulator.writes)
            late = await client.request(
                "inv1", "active_power_limit", {"value": 20}, time="2026-12-07T00:00:00Z"
            )
            assert late["error"]["code"] == "stale"
            assert len(emulator.writes) == writes
            request = json.dumps(
                {
                    "request_id": 7,
                    "time": utc_now(),
                    "command": "active_power_limit",
                    "parameters": {"value": 25},
                }
            ).encode()
            answer = await client.send("inv1", request, 7)
            assert answer["values"]["active_power_limit"]["value"] == 25.0
            # The same request again, as the broker redelivers it: answered
            # the same, and not carried out twice.
            writes = len(emulator.writes)
            repeat = await client.send("inv1", request, 7)
            assert repeat["values"] == answer["values"]
            assert len(emulator.writes) == writes
            await asyncio.sleep(1)
            assert [r["request_id"] for r in client.received("inv1", "response")].count(
                7
            ) == 2
        assert node.process.returncode is None


@pytest.mark.slow
async def test_broker_lost_for_the_timeout_releases_the_device(
    tmp_path: Path,
    broker: Broker,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> None:
    """No heartbeat crosses a lost broker: the node releases on its own."""
    emulator, server = inverter
    released_after: float | None = None
    async with run_node(_config(tmp_path, broker, server.url)) as node:
        # The client's own goodbye fails with the broker gone; what counts
        # is checked inside.
        with contextlib.suppress(aiomqtt.MqttError):
            async with mqtt_client(broker) as client:
                await client.state("inv1", available=True)
                async with heartbeat(client):
                    await client.request("inv1", "active_power_limit", {"value": 35})
                    assert _limit(emulator) == (1, 35.0)
                    broker.stop()
                    released_after = await wait_until(
                        lambda: _limit(emulator)[0] == 0,
                        TIMEOUT_S + INTERVAL_S + 2,
                        "release without the broker",
                    )
        assert released_after is not None
        assert released_after <= TIMEOUT_S + INTERVAL_S + 1.5
        broker.start()
        async with mqtt_client(broker) as client:
            # The event that could not be sent goes out once the broker is back.
            entered = await client.wait_for(
                lambda: failsafe_events(client, "entered"), 20
            )
            assert entered[0]["components"]["inv1"][0]["value"] == 100.0
        assert node.process.returncode is None
