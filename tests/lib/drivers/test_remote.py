"""The remote driver: a node's messages in, requests out, and no stale value shown."""

import asyncio
import json
from typing import Any

import pytest

from custom_components.energy_orchestrator.lib.drivers.base import (
    SubDeviceKind,
    execute,
)
from custom_components.energy_orchestrator.lib.drivers.cadence import ALL_CADENCES
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
    CommandNotConfirmedError,
    CommandRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceError,
    DeviceSilentError,
)
from custom_components.energy_orchestrator.lib.drivers.remote import RemoteDriver

CONFIG: dict[str, Any] = {
    "time": "2026-12-07T08:00:00.000Z",
    "node": "shed",
    "comp": "inv1",
    "family": "sunspec",
    "manufacturer": "Energy Orchestrator",
    "model": "Simulated hybrid inverter",
    "serial": "EO-SIM-INV-0001",
    "firmware": "1.0",
    "interval": 2.0,
    "heartbeat_timeout": 12,
    "values": {
        "ac_power": {"unit": "W", "description": "AC power"},
        "mppt1/pv_power": {"unit": "W", "description": "PV power"},
        "mppt1/pv_voltage": {"unit": "V", "description": "PV voltage"},
        "not_a_model_key": {"unit": "W", "description": "?"},
    },
    "commands": {
        "active_power_limit": {"unit": "%", "minimum": 0, "maximum": 100, "step": 0.1},
        "output_source_priority": {"unit": "", "options": ["utility", "solar"]},
    },
    "queries": [],
    "sub_devices": [{"key": "mppt1", "name": "PV1", "model": "MPPT"}],
}


class Node:
    """A node in memory: it answers each request the test says how."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        """Answer with ``answer`` (values or error), or not at all (None)."""
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.driver: RemoteDriver | None = None

    async def publish(self, topic: str, payload: str) -> None:
        """Take a request; answer it on the next turn of the loop."""
        assert topic == "energy_orchestrator/shed/inv1/request"
        request = json.loads(payload)
        self.requests.append(request)
        if self.answer is not None and self.driver is not None:
            response = {**request, "time": "2026-12-07T08:00:05.000Z", **self.answer}
            asyncio.get_running_loop().call_soon(self.driver.on_response, response)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        """Start at 1000 s."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Return now."""
        return self.now


def _driver(node: Node, clock: Clock | None = None) -> RemoteDriver:
    """Return the driver of inv1, wired to the node."""
    driver = RemoteDriver(
        "energy_orchestrator",
        "shed",
        CONFIG,
        node.publish,
        monotonic=clock or Clock(),
        response_timeout=0.2,
    )
    node.driver = driver
    return driver


def _state(**values: float) -> dict[str, Any]:
    """Return a state message with these values."""
    return {
        "time": "2026-12-07T08:00:02.000Z",
        "node": "shed",
        "comp": "inv1",
        "command": "read",
        "available": True,
        "values": {
            k.replace("__", "/"): {"value": v, "unit": "W"} for k, v in values.items()
        },
    }


def test_the_config_message_describes_the_device() -> None:
    """Keys of the value model only; limits and options; parts and their kind."""
    driver = _driver(Node())
    assert driver.available_keys() == {"ac_power", "mppt1/pv_power", "mppt1/pv_voltage"}
    limit = driver.commands[CommandKind.ACTIVE_POWER_LIMIT]
    assert (limit.minimum, limit.maximum, limit.step, limit.unit) == (0, 100, 0.1, "%")
    assert driver.commands[CommandKind.OUTPUT_SOURCE_PRIORITY].options == (
        "utility",
        "solar",
    )
    assert [(s.key, s.name, s.kind) for s in driver.sub_devices] == [
        ("mppt1", "PV1", SubDeviceKind.PV)
    ]
    assert driver.identity.serial_number == "EO-SIM-INV-0001"
    assert driver.heartbeat_timeout == 12


async def test_a_poll_is_the_last_state_and_never_an_old_one() -> None:
    """No state, a stale one, an unavailable one, an offline node: all silent."""
    clock = Clock()
    driver = _driver(Node(), clock)
    with pytest.raises(DeviceSilentError, match="no state"):
        await driver.async_poll(ALL_CADENCES)

    driver.on_state(_state(ac_power=1500.0, mppt1__pv_power=900.0))
    poll = await driver.async_poll(ALL_CADENCES)
    assert {k: r.value for k, r in poll.readings.items()} == {
        "ac_power": 1500.0,
        "mppt1/pv_power": 900.0,
    }
    # A key the state lacks is attempted, so its entity goes unavailable.
    assert "mppt1/pv_voltage" in poll.attempted

    clock.now += 3 * 2.0 + 2.0 + 0.1
    with pytest.raises(DeviceSilentError, match="no state from shed/inv1 for 8 s"):
        await driver.async_poll(ALL_CADENCES)

    driver.on_state(
        {
            **_state(),
            "available": False,
            "error": {"code": "device_error", "message": "timeout"},
        }
    )
    with pytest.raises(DeviceSilentError, match="unavailable: timeout"):
        await driver.async_poll(ALL_CADENCES)

    driver.on_state(_state(ac_power=10.0))
    driver.on_status("offline")
    with pytest.raises(DeviceSilentError, match="offline"):
        await driver.async_poll(ALL_CADENCES)
    driver.on_status("online")
    assert (await driver.async_poll(ALL_CADENCES)).readings["ac_power"].value == 10.0
    driver.on_broker(connected=False)
    with pytest.raises(DeviceSilentError, match="not connected"):
        await driver.async_poll(ALL_CADENCES)
    driver.on_broker(connected=True)

    # Its retained config cleared: it left the node, until a config returns.
    driver.on_removed()
    with pytest.raises(DeviceSilentError, match="inv1 is no longer on node shed"):
        await driver.async_poll(ALL_CADENCES)
    driver.update_config(CONFIG)
    assert (await driver.async_poll(ALL_CADENCES)).readings["ac_power"].value == 10.0


async def test_a_setting_is_a_request_and_its_response_the_read_back() -> None:
    """execute() through the remote driver: the envelope out, the value back."""
    node = Node({"values": {"active_power_limit": {"value": 50.0, "unit": "%"}}})
    driver = _driver(node)
    actual = await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 50))
    assert actual == 50.0
    [request] = node.requests
    assert request["command"] == "active_power_limit"
    assert request["parameters"] == {"value": 50.0}
    assert (request["node"], request["comp"]) == ("shed", "inv1")
    assert request["time"].endswith("Z")
    assert driver.pending == {}
    # A state polled before the write (the node reads the limit once a
    # minute) does not undo the read-back.
    driver.on_state(_state(active_power_limit=100.0))
    poll = await driver.async_poll(ALL_CADENCES)
    assert CommandKind.ACTIVE_POWER_LIMIT not in poll.settings


async def test_a_setting_off_its_limits_is_never_sent() -> None:
    """The config's limits are checked here before a request is made."""
    node = Node({"values": {}})
    driver = _driver(node)
    with pytest.raises(CommandRejectedError):
        await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 150))
    assert node.requests == []


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("out_of_limits", CommandRejectedError),
        ("unknown_command", CommandRejectedError),
        ("failsafe", CommandRejectedError),
        ("stale", CommandRejectedError),
        ("not_confirmed", CommandNotConfirmedError),
        ("device_error", DeviceError),
        ("timeout", DeviceError),
    ],
)
async def test_the_node_s_errors_map_to_the_driver_s(
    code: str, error: type[DeviceError]
) -> None:
    """Each error code of the protocol is the driver error a local device raises."""
    node = Node({"error": {"code": code, "message": "no"}})
    driver = _driver(node)
    with pytest.raises(error, match=code) as raised:
        await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 50))
    if error is DeviceError:
        assert not isinstance(
            raised.value, CommandRejectedError | CommandNotConfirmedError
        )
    assert driver.pending == {}


async def test_no_response_within_the_timeout_is_a_device_error() -> None:
    """A node that does not answer: an error, and the request forgotten."""
    driver = _driver(Node(answer=None))
    with pytest.raises(DeviceError, match="did not answer active_power_limit"):
        await execute(driver, Command(CommandKind.ACTIVE_POWER_LIMIT, 50))
    assert driver.pending == {}
    # A late response is nobody's: it changes nothing.
    driver.on_response({"request_id": "late", "values": {}})


async def test_a_setting_unknown_until_written_or_in_the_state() -> None:
    """The node publishes no settings: the read-back comes from the state or a write."""
    driver = _driver(Node())
    with pytest.raises(DeviceError, match="unknown until it is set"):
        await driver.async_read_back(Command(CommandKind.ACTIVE_POWER_LIMIT, 0))
    driver.on_state(_state(active_power_limit=80.0))
    assert (
        await driver.async_read_back(Command(CommandKind.ACTIVE_POWER_LIMIT, 0)) == 80.0
    )
