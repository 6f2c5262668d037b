"""A node restarted while its controller is away releases what its earlier run wrote.

The device is the simulator's Victron GX: its ESS grid setpoint cannot be
switched off, so the release writes back the value the node found before
its first write, which only the state file remembers across the restart.
Every release is read from the GX's own dbus values.
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

from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
)
from eo_lab.sim.devices.victron import VictronGXEmulator, site_gx_emulator
from eo_lab.sim.servers import DeviceServer, serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from eo_node.config import parse_config
from eo_node.node import Node
from eo_node.state_file import Saved, StateFile

from .conftest import (
    Broker,
    Client,
    failsafe_events,
    free_port,
    heartbeat,
    mqtt_client,
    run_node,
    wait_until,
    write_config,
)

TIMEOUT_S = 2.0
# Where no broker is involved, the least timeout the config takes.
SHORT_TIMEOUT_S = 1.0
INTERVAL_S = 0.5
# The ESS setpoint the installer left on the GX, before the node wrote any.
INSTALLERS_SETPOINT = 50.0
WRITTEN_SETPOINT = 700.0
SETPOINT = "/Settings/CGwacs/AcPowerSetPoint"


@pytest.fixture
def gx(site: SimulatedSite) -> VictronGXEmulator:
    """Return a GX in ESS mode whose setpoint the installer set to 50 W."""
    emulator = site_gx_emulator(site.site, sync=site.sync)
    emulator.values[100]["settings"][SETPOINT] = INSTALLERS_SETPOINT
    return emulator


@pytest.fixture
async def gx_server(gx: VictronGXEmulator) -> AsyncIterator[DeviceServer]:
    """Serve the GX over Modbus TCP."""
    async with serve_devices("127.0.0.1", 0, gx.sim_devices()) as server:
        yield server


def _setpoint(gx: VictronGXEmulator) -> float:
    """Return the grid setpoint the GX holds now."""
    value = gx.values[100]["settings"][SETPOINT]
    assert isinstance(value, int | float)
    return float(value)


def _node_config(
    server: DeviceServer, state_file: Path, timeout: float = TIMEOUT_S
) -> dict[str, Any]:
    """Return node shed's config with the GX alone."""
    return {
        "node": "shed",
        "failsafe": {"heartbeat_timeout": timeout},
        "state_file": str(state_file),
        "components": [
            {
                "id": "gx",
                "family": "victron_gx",
                "url": server.url,
                "unit": 100,
                "interval": INTERVAL_S,
            }
        ],
    }


def _saved(state_file: Path) -> Saved | None:
    """Return what the state file holds, None when it is not a good one."""
    return StateFile(state_file, "shed").load()


# The state file.


def test_state_file_round_trip_leaves_no_temporary_file(tmp_path: Path) -> None:
    """What is saved is what is loaded; components that wrote nothing are left out."""
    state = StateFile(tmp_path / "shed.state.json", "shed")
    ledger = {
        "gx": {CommandKind.GRID_SETPOINT: 50.0},
        "inv1": {CommandKind.ACTIVE_POWER_LIMIT: None},
        "axpert": {CommandKind.OUTPUT_SOURCE_PRIORITY: "sbu"},
        "meter1": {},
    }
    assert state.save(ledger, watched=True)
    assert state.load() == Saved(
        {key: value for key, value in ledger.items() if value}, watched=True
    )
    assert json.loads(state.path.read_text())["node"] == "shed"
    assert [path.name for path in tmp_path.iterdir()] == ["shed.state.json"]


def test_missing_state_file_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A first start has none: nothing to release, said once."""
    assert StateFile(tmp_path / "shed.state.json", "shed").load() is None
    assert "no state file at" in caplog.text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"version": 1, "watched": true, "written": {"gx": {', "not JSON"),
        ("[]", "not an object with written"),
        ('{"version": 9, "watched": true, "written": {}}', "version 9"),
        ('{"version": 1, "written": {}}', "watched is None"),
        (
            '{"version": 1, "watched": true, "written": {"gx": {"warp": {}}}}',
            "written.gx.warp: no such command",
        ),
        (
            '{"version": 1, "watched": true,'
            ' "written": {"gx": {"grid_setpoint": {"before": [1]}}}}',
            "written.gx.grid_setpoint.before is [1]",
        ),
    ],
)
def test_corrupt_state_file_is_a_warning_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, reason: str
) -> None:
    """Nothing of it is trusted, and the reason is logged."""
    path = tmp_path / "shed.state.json"
    path.write_text(content)
    assert StateFile(path, "shed").load() is None
    assert "is corrupt" in caplog.text
    assert reason in caplog.text


def test_state_file_that_cannot_be_saved_is_a_warning_and_keeps_the_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed save raises nothing and leaves the earlier file whole."""
    nowhere = StateFile(tmp_path / "a-file" / "shed.state.json", "shed")
    (tmp_path / "a-file").write_text("")
    assert not nowhere.save({}, watched=False)
    assert "cannot save the state file" in caplog.text
    state = StateFile(tmp_path / "shed.state.json", "shed")
    earlier = {"gx": {CommandKind.GRID_SETPOINT: 50.0}}
    assert state.save(earlier, watched=True)

    def power_cut(source: object, target: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("os.replace", power_cut)
    assert not state.save({}, watched=True)
    assert state.load() == Saved(earlier, watched=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "a-file",
        "shed.state.json",
    ]


# In one process, without a broker: the node's own parts.


@contextlib.asynccontextmanager
async def _running(node: Node) -> AsyncIterator[None]:
    """Run a node in this process; stop it as SIGTERM would, releasing nothing."""
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _heard(node: Node) -> None:
    """Deliver a controller's heartbeat to a node, as the broker would."""
    node._on_message(
        aiomqtt.Message(
            node.topics.heartbeat, b"alive", qos=1, retain=False, mid=1, properties=None
        )
    )


def _in_process(tmp_path: Path, server: DeviceServer) -> Node:
    """Return node shed, whose broker is nowhere: a restart needs none."""
    config = _node_config(server, tmp_path / "shed.state.json", SHORT_TIMEOUT_S)
    config["mqtt"] = {"host": "127.0.0.1", "port": free_port()}
    return Node(parse_config(config, tmp_path))


async def _write_under_heartbeat(node: Node, gx: VictronGXEmulator) -> None:
    """Hear a heartbeat, then write the setpoint through the node's component."""
    component = node.components["gx"]
    await wait_until(lambda: component.identity is not None, 10, "the GX identified")
    _heard(node)
    await wait_until(lambda: node.watchdog.armed, 2, "the heartbeat noted")
    await component.write(Command(CommandKind.GRID_SETPOINT, WRITTEN_SETPOINT))
    assert _setpoint(gx) == WRITTEN_SETPOINT


async def test_a_restarted_node_gives_back_the_setpoint_it_found(
    tmp_path: Path, gx: VictronGXEmulator, gx_server: DeviceServer
) -> None:
    """The state file carries the value found; the restart writes it back."""
    state_file = tmp_path / "shed.state.json"
    first = _in_process(tmp_path, gx_server)
    async with _running(first):
        await _write_under_heartbeat(first, gx)
        # Saved before the device was written, the watch with it.
        assert _saved(state_file) == Saved(
            {"gx": {CommandKind.GRID_SETPOINT: INSTALLERS_SETPOINT}}, watched=True
        )
    # A stop releases nothing: the controller may be there after the restart.
    assert _setpoint(gx) == WRITTEN_SETPOINT
    again = _in_process(tmp_path, gx_server)
    assert again.components["gx"].written == {CommandKind.GRID_SETPOINT}
    async with _running(again):
        took = await wait_until(
            lambda: _setpoint(gx) == INSTALLERS_SETPOINT,
            SHORT_TIMEOUT_S + INTERVAL_S + 2,
            "the setpoint given back",
        )
        assert again.watchdog.holding
        # The read-back done, the ledger is emptied (a stop before that
        # would leave it whole, for the next start to release again).
        await wait_until(lambda: not again.components["gx"].written, 5, "forgotten")
        # Released, the ledger is empty: the next start has nothing to release.
        await wait_until(
            lambda: _saved(state_file) == Saved({}, watched=True), 5, "saved empty"
        )
    assert took <= SHORT_TIMEOUT_S + INTERVAL_S + 1


async def test_what_was_written_without_a_heartbeat_is_left_alone(
    tmp_path: Path, gx: VictronGXEmulator, gx_server: DeviceServer
) -> None:
    """A Node-RED flow's setting has no fail-safe, after a restart as before."""
    state_file = tmp_path / "shed.state.json"
    first = _in_process(tmp_path, gx_server)
    async with _running(first):
        component = first.components["gx"]
        await wait_until(lambda: component.identity is not None, 10, "identified")
        await component.write(Command(CommandKind.GRID_SETPOINT, WRITTEN_SETPOINT))
    saved = _saved(state_file)
    assert saved is not None
    assert not saved.watched
    assert saved.written == {"gx": {CommandKind.GRID_SETPOINT: INSTALLERS_SETPOINT}}
    again = _in_process(tmp_path, gx_server)
    async with _running(again):
        await asyncio.sleep(SHORT_TIMEOUT_S + INTERVAL_S + 0.5)
        assert not again.watchdog.armed
    assert _setpoint(gx) == WRITTEN_SETPOINT


# End to end: a real broker, ``eo node`` as a subprocess, killed.


async def _online_again(client: Client, seen: int) -> float:
    """Wait until the node says ``online`` after the first ``seen`` statuses."""
    await client.wait_for(
        lambda: "online" in client.received("status")[seen:], 20, "online again"
    )
    return time.monotonic()


@contextlib.asynccontextmanager
async def _killed_after_a_write(
    tmp_path: Path, broker: Broker, gx: VictronGXEmulator, server: DeviceServer
) -> AsyncIterator[tuple[Client, Path]]:
    """Write the setpoint under a heartbeat, SIGKILL the node; yield its config."""
    config = write_config(
        tmp_path, broker, _node_config(server, tmp_path / "shed.state.json")
    )
    async with mqtt_client(broker) as client:
        async with run_node(config) as node:
            await client.state("gx", available=True)
            async with heartbeat(client):
                answer = await client.request(
                    "gx", "grid_setpoint", {"value": WRITTEN_SETPOINT}
                )
                assert answer["values"]["grid_setpoint"]["value"] == WRITTEN_SETPOINT
                await node.stop(signal.SIGKILL)
        assert _setpoint(gx) == WRITTEN_SETPOINT
        yield client, config


@pytest.mark.slow
async def test_killed_node_started_without_heartbeat_releases_what_it_wrote(
    tmp_path: Path, broker: Broker, gx: VictronGXEmulator, gx_server: DeviceServer
) -> None:
    """Within the timeout plus one poll of its start, the GX has its own setpoint."""
    async with _killed_after_a_write(tmp_path, broker, gx, gx_server) as (
        client,
        config,
    ):
        seen = len(client.received("status"))
        async with run_node(config) as node:
            online = await _online_again(client, seen)
            await wait_until(
                lambda: _setpoint(gx) == INSTALLERS_SETPOINT,
                TIMEOUT_S + INTERVAL_S + 3,
                "the setpoint given back",
            )
            released_after = time.monotonic() - online
            entered = await client.wait_for(
                lambda: failsafe_events(client, "entered"), what="failsafe"
            )
            assert entered[0]["reason"] == "restarted_without_heartbeat"
            assert entered[0]["components"]["gx"] == [
                {"command": "grid_setpoint", "value": INSTALLERS_SETPOINT}
            ]
            # Held: a setting waits for the controller's heartbeat.
            refused = await client.request("gx", "grid_setpoint", {"value": 300})
            assert refused["error"]["code"] == "failsafe"
            assert _setpoint(gx) == INSTALLERS_SETPOINT
            assert node.process.returncode is None
        assert "restarted with settings an earlier run wrote" in node.output()
    assert released_after <= TIMEOUT_S + INTERVAL_S + 1
    saved = _saved(tmp_path / "shed.state.json")
    assert saved is not None
    assert saved.written == {}


@pytest.mark.slow
async def test_a_heartbeat_in_time_after_the_restart_releases_nothing(
    tmp_path: Path, broker: Broker, gx: VictronGXEmulator, gx_server: DeviceServer
) -> None:
    """The controller is there: its setpoint stays, and it may write again."""
    async with (
        _killed_after_a_write(tmp_path, broker, gx, gx_server) as (client, config),
        heartbeat(client),
        run_node(config),
    ):
        await client.state("gx", available=True)
        await asyncio.sleep(TIMEOUT_S + INTERVAL_S + 1)
        assert _setpoint(gx) == WRITTEN_SETPOINT
        assert not failsafe_events(client, "entered")
        answer = await client.request("gx", "grid_setpoint", {"value": 300})
        assert answer["values"]["grid_setpoint"]["value"] == 300
    # The value found before the first write of the earlier run is kept.
    saved = _saved(tmp_path / "shed.state.json")
    assert saved == Saved(
        {"gx": {CommandKind.GRID_SETPOINT: INSTALLERS_SETPOINT}}, True
    )


async def test_a_corrupt_state_file_is_a_warning_and_is_replaced(
    tmp_path: Path, broker: Broker, gx: VictronGXEmulator, gx_server: DeviceServer
) -> None:
    """The node starts, serves, releases nothing, and saves a good file again."""
    state_file = tmp_path / "shed.state.json"
    state_file.write_text('{"version": 1, "written": {"gx": {"grid_setp')
    config = write_config(
        tmp_path, broker, _node_config(gx_server, state_file, SHORT_TIMEOUT_S)
    )
    async with mqtt_client(broker) as client, run_node(config) as node:
        await client.state("gx", available=True)
        await asyncio.sleep(SHORT_TIMEOUT_S + INTERVAL_S)
        assert not failsafe_events(client, "entered")
        assert node.process.returncode is None
        async with heartbeat(client):
            await client.request("gx", "grid_setpoint", {"value": WRITTEN_SETPOINT})
            saved = json.loads(state_file.read_text())
        log = node.output()
    assert f"the state file {state_file} is corrupt" in log
    assert "Traceback" not in log
    assert saved["watched"] is True
    assert saved["written"] == {
        "gx": {"grid_setpoint": {"before": INSTALLERS_SETPOINT}}
    }
