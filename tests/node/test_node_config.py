"""A node's config is checked whole at start, each mistake named by its key."""

from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from eo_node.config import ConfigError, SafeCommand, parse_config
from eo_node.failsafe import Reason, Restored, Tripped, Watchdog

ROOT = Path(__file__).parent.parent.parent


def _good() -> dict[str, Any]:
    """Return a config that passes, to break one key at a time."""
    return {
        "node": "shed",
        "mqtt": {"host": "broker.local", "username": "shed", "password": "x"},
        "failsafe": {"heartbeat_timeout": 30},
        "components": [
            {
                "id": "inv1",
                "family": "sunspec",
                "url": "tcp://192.168.1.20:502",
                "unit": 1,
            },
            {
                "id": "meter1",
                "family": "sdm630",
                "url": "/dev/ttyUSB0",
                "baudrate": 9600,
            },
        ],
    }


def _problems(config: dict[str, Any], tmp_path: Path) -> list[str]:
    """Return the problems a config has."""
    with pytest.raises(ConfigError) as caught:
        parse_config(config, tmp_path)
    return caught.value.problems


def test_a_good_config_reads_with_its_defaults(tmp_path: Path) -> None:
    """Port, prefix, interval and the safe action default sensibly."""
    config = parse_config(_good(), tmp_path)
    assert config.mqtt.port == 1883
    assert config.mqtt.prefix == "energy_orchestrator"
    assert config.heartbeat_timeout == 30
    inverter, meter = config.components
    assert str(inverter.endpoint) == "tcp://192.168.1.20:502"
    assert meter.endpoint is not None
    assert meter.endpoint.serial is not None
    assert meter.endpoint.serial.baudrate == 9600
    assert inverter.interval == 5
    assert inverter.safe_action is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c["components"][1].update(url="ftp://x"),
            "components[1].url: unknown scheme",
        ),
        (
            lambda c: c["components"][0].update(family="sunspek"),
            "components[0].family: unknown family",
        ),
        (
            lambda c: c["components"][0].update(unit=300),
            "components[0].unit: 300 is outside 1-247",
        ),
        (
            lambda c: c["components"][0].update(interval=0),
            "components[0].interval: 0 is outside",
        ),
        (
            lambda c: c["components"][1].update(id="inv1"),
            "components[1].id: 'inv1' is used twice",
        ),
        (
            lambda c: c["components"][1].update(id="status"),
            "components[1].id: 'status' is a topic",
        ),
        (
            lambda c: c["components"][0].update(id="a/b"),
            "components[0].id: 'a/b' must be",
        ),
        (
            lambda c: c["components"][0].update(urll="x"),
            "components[0].urll: unknown key",
        ),
        (lambda c: c["components"][0].pop("url"), "components[0].url: is required"),
        (lambda c: c["mqtt"].pop("host"), "mqtt.host: is required"),
        (lambda c: c["mqtt"].update(port=0), "mqtt.port: 0 is outside 1-65535"),
        (lambda c: c["mqtt"].update(prefix="a/#"), "mqtt.prefix: 'a/#' must be"),
        (lambda c: c["mqtt"].update(tls={"ca": "missing.pem"}), "mqtt.tls.ca: "),
        (
            lambda c: c["failsafe"].update(heartbeat_timeout="x"),
            "failsafe.heartbeat_timeout: must be a number",
        ),
        (
            lambda c: c["failsafe"].update(safe_actions={"inv9": "release"}),
            "failsafe.safe_actions.inv9: no component",
        ),
        (
            lambda c: c["failsafe"].update(
                safe_actions={"inv1": [{"command": "nuke", "value": 1}]}
            ),
            "failsafe.safe_actions.inv1[0].command: unknown command",
        ),
        (lambda c: c.update(components=[]), "components: must be a list"),
        (lambda c: c.update(node="my node"), "node: 'my node' must be"),
    ],
)
def test_each_mistake_is_named_by_its_key(
    tmp_path: Path, change: Any, expected: str
) -> None:
    """The message starts with the key, as an installer reads it."""
    config = _good()
    change(config)
    problems = _problems(config, tmp_path)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    """Two mistakes, two lines: the file is fixed in one go."""
    config = _good()
    config["mqtt"]["port"] = "x"
    config["components"][1]["url"] = ""
    assert len(_problems(config, tmp_path)) == 2


def test_a_fixed_safe_action_is_kept_in_order(tmp_path: Path) -> None:
    """The configured commands replace the release, in their order."""
    config = _good()
    config["failsafe"]["safe_actions"] = {
        "inv1": [
            {"command": "active_power_limit", "value": 0},
            {"command": "battery_mode", "value": "auto"},
        ],
        "meter1": "release",
    }
    inverter, meter = parse_config(config, tmp_path).components
    assert inverter.safe_action == (
        SafeCommand("active_power_limit", 0.0),  # type: ignore[arg-type]
        SafeCommand("battery_mode", "auto"),  # type: ignore[arg-type]
    )
    assert meter.safe_action is None


def test_eo_node_refuses_a_bad_file_before_opening_anything(tmp_path: Path) -> None:
    """``eo node`` prints each problem with its key and exits 1."""
    path = tmp_path / "node.yaml"
    path.write_text(
        "node: shed\nmqtt: {host: broker.local}\ncomponents:\n"
        "  - {id: inv1, family: sunspec, url: 'tcp://h:502'}\n"
        "  - {id: m1, family: sdm630, url: 'tcp://h:502'}\n"
        "  - {id: m2, family: sdm630, url: 'tcp://h:99999'}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "eo_lab", "node", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("eo node: components[2].url: invalid port")
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "eo_lab",
            "node",
            "--config",
            str(tmp_path / "nope.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr


def test_watchdog_arms_on_the_first_heartbeat_and_trips_once() -> None:
    """Silent before a heartbeat; trips after the timeout; a heartbeat restores."""
    watchdog = Watchdog(30)
    assert watchdog.check(1000) is None
    assert watchdog.home_assistant_offline(1000) is None
    watchdog.heartbeat(1000)
    assert watchdog.check(1029.9) is None
    assert watchdog.due_in(1020) == pytest.approx(10)
    assert watchdog.check(1030) == Tripped(Reason.HEARTBEAT_MISSING, 30)
    assert watchdog.check(1040) is None
    assert watchdog.holding
    assert watchdog.heartbeat(1050) == Restored(20)
    assert not watchdog.holding
    assert watchdog.home_assistant_offline(1051) == Tripped(
        Reason.HOME_ASSISTANT_OFFLINE, 1
    )


def test_watchdog_armed_at_start_trips_as_a_restart_until_a_heartbeat() -> None:
    """Armed at start, it trips after the timeout; once heard, as a missing one."""
    restarted = Watchdog(30)
    restarted.arm_at_start(1000)
    assert restarted.armed
    assert restarted.check(1029.9) is None
    assert restarted.check(1030) == Tripped(Reason.RESTARTED_WITHOUT_HEARTBEAT, 30)
    heard = Watchdog(30)
    heard.arm_at_start(1000)
    assert heard.heartbeat(1010) is None
    assert heard.check(1039.9) is None
    assert heard.check(1040) == Tripped(Reason.HEARTBEAT_MISSING, 30)


def test_state_file_defaults_beside_the_config_or_in_systemds_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``<node>.state.json``: in STATE_DIRECTORY when systemd gives one."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert parse_config(_good(), tmp_path).state_file == tmp_path / "shed.state.json"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/eo-node")
    assert parse_config(_good(), tmp_path).state_file == Path(
        "/var/lib/eo-node/shed.state.json"
    )
    (tmp_path / "x" / "state").mkdir(parents=True)
    given = parse_config({**_good(), "state_file": "state/shed.json"}, tmp_path / "x")
    # Relative to the config file's folder, like every path of the config.
    assert given.state_file == tmp_path / "x" / "state" / "shed.json"


def test_state_file_in_a_missing_folder_or_a_folder_is_refused(
    tmp_path: Path,
) -> None:
    """The key is named before the node starts, not at its first write."""
    assert _problems({**_good(), "state_file": "nowhere/shed.json"}, tmp_path) == [
        f"state_file: the folder {tmp_path / 'nowhere'} does not exist"
    ]
    assert _problems({**_good(), "state_file": str(tmp_path)}, tmp_path) == [
        f"state_file: {tmp_path} is a folder; name a file in it"
    ]
