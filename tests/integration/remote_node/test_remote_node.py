"""The "Remote node (MQTT)" entry end to end: device → node → broker → entity, and back.

A real Mosquitto with the shipped ACL, ``eo node`` as a subprocess reading
simulated Modbus devices, and Home Assistant's own MQTT integration on the
broker. What a command did is read from the simulated inverter's registers,
never from anything the node or Home Assistant says.
"""

import asyncio
import json
from pathlib import Path
import signal
import time
from typing import Any

from homeassistant.components import mqtt
from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_HOMEASSISTANT_STOP,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.energy_orchestrator.const import DOMAIN
from custom_components.energy_orchestrator.lib.drivers.commands import (
    CommandRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError
from custom_components.energy_orchestrator.lib.drivers.remote import parse_time
from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.servers import DeviceServer
from eo_lab.sim.simulated_site import SimulatedSite
from tests.node.conftest import Broker, run_node

from .conftest import (
    INTERVAL_S,
    TIMEOUT_S,
    remote_node_entry,
    wait_until,
)

LIMIT = "number.shed_inv1_active_power_limit"
GRID_POWER = "sensor.shed_meter1_grid_power"


def _limit(emulator: SunSpecInverterEmulator) -> tuple[Any, Any]:
    """Return the inverter's limit registers: (enabled, percent)."""
    controls = emulator.current_values(123)
    assert controls is not None
    return controls.get("WMaxLim_Ena"), controls.number("WMaxLimPct")


def _available(hass: HomeAssistant, entity_id: str) -> bool:
    """Return whether an entity has a state that is not unavailable."""
    state = hass.states.get(entity_id)
    return state is not None and state.state != STATE_UNAVAILABLE


async def _set_limit(hass: HomeAssistant, value: float) -> None:
    """Set the inverter's limit through Home Assistant's action."""
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: LIMIT, ATTR_VALUE: value},
        blocking=True,
    )


@pytest.mark.slow
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_both_ways_with_their_latency(
    hass: HomeAssistant,
    site: SimulatedSite,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
    node_config: Path,
) -> None:
    """The meter's power reaches its sensor; the limit set reaches the register."""
    emulator, _ = inverter
    async with run_node(node_config) as node:
        entry = remote_node_entry()
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_until(
            hass, lambda: _available(hass, GRID_POWER), what="the grid power"
        )
        await wait_until(hass, lambda: _available(hass, LIMIT), what="the limit")
        state = hass.states.get(GRID_POWER)
        assert state is not None
        assert state.attributes["unit_of_measurement"] == "W"
        expected = site.site.grid_meter_values()["grid_power"]
        assert float(state.state) == pytest.approx(
            expected, abs=max(50.0, abs(expected) * 0.2)
        )

        # Device → node → broker → entities: from the node's state message
        # (its time) to the meter's coordinator handing it to its entities.
        meter = entry.runtime_data.components["meter1"].coordinator
        driver = entry.runtime_data.drivers["meter1"]
        latencies: list[float] = []

        seen: set[str] = set()

        @callback
        def on_update() -> None:
            # The first update after each message (the coordinator's timer
            # also updates, from the same message, later).
            if meter.last_update_success and driver.state is not None:
                stamp = driver.state["time"]
                if stamp not in seen:
                    seen.add(stamp)
                    latencies.append(time.time() - parse_time(stamp, time.time()))

        unsubscribe = meter.async_add_listener(on_update)
        await wait_until(hass, lambda: len(latencies) >= 10, what="ten updates")
        unsubscribe()

        # Action → request → node → register, answered with the read-back.
        started = time.perf_counter()
        await _set_limit(hass, 50)
        command_s = time.perf_counter() - started
        assert _limit(emulator) == (1, 50.0)
        assert hass.states.get(LIMIT).state == "50.0"
        # The state messages carry the limit too, never the one from before.
        await asyncio.sleep(3 * INTERVAL_S)
        assert hass.states.get(LIMIT).state == "50.0"
        print(
            f"\nremote node latency: state message → entity median"
            f" {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"
            f" (max {max(latencies) * 1000:.0f} ms, {len(latencies)} updates);"
            f" number.set_value → register → read-back {command_s * 1000:.0f} ms"
        )

        # The node is a device, each component one under it.
        devices = dr.async_get(hass)
        node_device = devices.async_get_device_by_identifier(
            (DOMAIN, "energy_orchestrator/shed"), entry.entry_id
        )
        inv_device = devices.async_get_device_by_identifier(
            (DOMAIN, "energy_orchestrator/shed/inv1"), entry.entry_id
        )
        assert node_device is not None
        assert inv_device is not None
        assert inv_device.via_device_id == node_device.id
        assert inv_device.serial_number == "EO-SIM-INV-0001"
        assert await node.stop() == 0


async def _add_node(hass: HomeAssistant) -> MockConfigEntry:
    """Add the shed's entry; wait until its meter and its limit are available."""
    entry = remote_node_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_until(hass, lambda: _available(hass, GRID_POWER), what="the meter")
    await wait_until(hass, lambda: _available(hass, LIMIT), what="the limit")
    return entry


@pytest.mark.slow
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_a_killed_node_goes_unavailable_at_once(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    node_config: Path,
) -> None:
    """SIGKILL: the broker's will says offline, and every entity goes.

    A component the node no longer serves may then be deleted, with its
    parts and entities; one it serves may not.
    """
    async with run_node(node_config) as node:
        entry = await _add_node(hass)
        devices = dr.async_get(hass)
        inverter = devices.async_get_device_by_identifier(
            (DOMAIN, "energy_orchestrator/shed/inv1"), entry.entry_id
        )
        assert inverter is not None
        assert await async_setup_component(hass, "config", {})
        client = await hass_ws_client(hass)

        async def delete(device_id: str) -> bool:
            await client.send_json_auto_id(
                {
                    "type": "config/device_registry/remove_config_entry",
                    "config_entry_id": entry.entry_id,
                    "device_id": device_id,
                }
            )
            answer = await client.receive_json()
            return bool(answer["success"])

        await wait_until(
            hass,
            lambda: entry.runtime_data.drivers["inv1"].silent_reason() is None,
            what="the inverter's values",
        )
        # Served: it would be back at its next state.
        assert not await delete(inverter.id)
        killed = time.monotonic()
        await node.stop(signal.SIGKILL)
        await wait_until(
            hass,
            lambda: not _available(hass, GRID_POWER) and not _available(hass, LIMIT),
            within=5,
            what="unavailable after the kill",
        )
        print(
            f"\nremote node killed → unavailable in {time.monotonic() - killed:.2f} s"
        )
        parts = [
            device.id
            for device in dr.async_entries_for_config_entry(devices, entry.entry_id)
            if device.via_device_id == inverter.id
        ]
        assert parts
        assert await delete(inverter.id)
        await hass.async_block_till_done()
        assert devices.async_get(inverter.id) is None
        assert all(devices.async_get(part) is None for part in parts)
        assert hass.states.get(LIMIT) is None
        assert "inv1" not in entry.runtime_data.components


@pytest.mark.slow
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_a_restarted_broker_reconnects_both_and_a_command_works_once(
    broker: Broker,
    hass: HomeAssistant,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
    node_config: Path,
) -> None:
    """Node and Home Assistant come back on their own; one command, one request."""
    emulator, _ = inverter
    async with run_node(node_config) as node:
        entry = await _add_node(hass)
        await hass.async_add_executor_job(broker.stop)
        # Home Assistant's link to the broker is gone: no news, no values.
        await wait_until(
            hass, lambda: not _available(hass, GRID_POWER), within=2, what="gone"
        )
        # While the broker is away the limit is unavailable, and a request is
        # refused at once: queued in the client, it would reach the node late.
        assert not _available(hass, LIMIT)
        driver = entry.runtime_data.drivers["inv1"]
        with pytest.raises(DeviceError, match="not connected"):
            await driver.async_request("active_power_limit", {"value": 30})
        await hass.async_add_executor_job(broker.start)
        await wait_until(
            hass, lambda: _available(hass, GRID_POWER), within=30, what="back"
        )
        await wait_until(hass, lambda: _available(hass, LIMIT), what="limit back")
        requests: list[Any] = []
        responses: list[Any] = []
        for topic, into in (("request", requests), ("response", responses)):
            unsubscribe = await mqtt.async_subscribe(
                hass,
                f"energy_orchestrator/shed/inv1/{topic}",
                callback(lambda message, into=into: into.append(message.payload)),
                qos=1,
            )
            entry.async_on_unload(unsubscribe)
        # Home Assistant's MQTT client sends subscriptions in batches.
        await asyncio.sleep(1.5)
        await _set_limit(hass, 40)
        assert _limit(emulator) == (1, 40.0)
        # Nothing queued during the outage turns up late, nothing twice.
        await asyncio.sleep(2)
        assert _limit(emulator) == (1, 40.0)
        assert [json.loads(r)["parameters"] for r in requests] == [{"value": 40}]
        assert len(responses) == 1
        assert driver.pending == {}
        assert node.process.returncode is None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["unloaded", "stopped"])
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_unloading_stops_the_heartbeat_and_the_node_releases(
    hass: HomeAssistant,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
    node_config: Path,
    how: str,
) -> None:
    """No heartbeat: the inverter's limit is released within timeout + one poll.

    Whether the entry is unloaded or Home Assistant stops (its MQTT client
    then leaves cleanly: no will, only the missing heartbeat tells).
    """
    emulator, _ = inverter
    async with run_node(node_config):
        entry = await _add_node(hass)
        await _set_limit(hass, 50)
        assert _limit(emulator) == (1, 50.0)
        # Beating: the node holds the limit past its timeout.
        await asyncio.sleep(TIMEOUT_S + 1)
        assert _limit(emulator) == (1, 50.0)
        node = entry.runtime_data
        beats = node.heartbeats
        assert beats >= 3

        if how == "unloaded":
            assert await hass.config_entries.async_unload(entry.entry_id)
        else:
            hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
            await hass.async_block_till_done()
        stopped = time.monotonic()
        await wait_until(
            hass,
            lambda: _limit(emulator)[0] == 0,
            within=TIMEOUT_S + INTERVAL_S + 2,
            what="the limit released",
        )
        released_s = time.monotonic() - stopped
        assert node.heartbeats == beats
        assert released_s <= TIMEOUT_S + INTERVAL_S + 1
        print(
            f"\nentry {how} → limit released in {released_s:.2f} s"
            f" (heartbeat_timeout {TIMEOUT_S:g} s, poll {INTERVAL_S:g} s)"
        )


@pytest.mark.slow
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_bad_commands_are_translated_errors(
    hass: HomeAssistant,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
    node_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Off the limit's step: refused before a request; no answer: a timeout."""
    emulator, _ = inverter
    async with run_node(node_config) as node:
        entry = await _add_node(hass)
        with pytest.raises(ServiceValidationError) as refused:
            await _set_limit(hass, 50.05)
        assert refused.value.translation_key == "command_rejected"
        assert refused.value.translation_domain == DOMAIN
        assert _limit(emulator) != (1, 50.05)

        # The node refuses what the entity cannot know: its safe state.
        driver = entry.runtime_data.drivers["inv1"]
        with pytest.raises(CommandRejectedError, match="out_of_limits"):
            await driver.async_request("active_power_limit", {"value": 150})

        # A node that stops answering (stopped, not gone: no will).
        driver.response_timeout = 1.0
        node.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(HomeAssistantError) as timed_out:
                await _set_limit(hass, 20)
        finally:
            node.process.send_signal(signal.SIGCONT)
        assert not isinstance(timed_out.value, ServiceValidationError)
        assert timed_out.value.translation_key == "communication_error"
        assert "did not answer" in str(timed_out.value)
        assert driver.pending == {}


@pytest.mark.slow
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_entities_devices_and_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    node_config: Path,
    snapshot: SnapshotAssertion,
) -> None:
    """The remote entities are a local connection's: snapshot of what they are."""
    async with run_node(node_config):
        entry = await _add_node(hass)
        entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        devices = dr.async_get(hass)
        names = {
            device.id: device.name
            for device in dr.async_entries_for_config_entry(devices, entry.entry_id)
        }
        assert snapshot(name="devices") == sorted(
            (
                device.name,
                device.model,
                device.serial_number,
                names.get(device.via_device_id or ""),
            )
            for device in dr.async_entries_for_config_entry(devices, entry.entry_id)
        )
        assert snapshot(name="entities") == sorted(
            (
                entity.unique_id,
                entity.entity_id,
                entity.translation_key,
                entity.original_device_class,
                entity.unit_of_measurement,
                str(entity.entity_category),
                names.get(entity.device_id or ""),
            )
            for entity in entities
        )
        # The same unit and class as a local device's sensor of the key.
        grid = hass.states.get(GRID_POWER)
        assert grid is not None
        assert grid.attributes["device_class"] == "power"
        assert grid.attributes["state_class"] == "measurement"

        # The inverter's first state may come a poll after the meter's.
        await wait_until(
            hass,
            lambda: entry.runtime_data.drivers["inv1"].state_at is not None,
            what="the inverter's first state",
        )
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert diagnostics["node"] == "shed"
        assert diagnostics["status"] == "online"
        assert diagnostics["heartbeat_period_s"] == pytest.approx(TIMEOUT_S / 3)
        inv = diagnostics["components"]["inv1"]
        assert inv["family"] == "sunspec"
        assert inv["pending_requests"] == []
        assert inv["last_state_time"].endswith("Z")
        assert inv["last_state_age_s"] < 3 * INTERVAL_S + 2
        assert inv["last_update_success"] is True
