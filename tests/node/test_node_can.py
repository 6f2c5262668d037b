"""A family on a CAN bus is configured by its bus and built through the registry.

The CAN battery family (``pylontech_can``) lands on another branch; these
tests stand a family with a ``build_can`` hook and the registry's
``build_can_driver`` in for it, so the node needs no change when it lands.
"""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from custom_components.energy_orchestrator.lib.drivers import families
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError
from eo_node.config import CanConfig, ConfigError, parse_config
from eo_node.node import Node


@dataclass(frozen=True)
class _CanFamily:
    """The part of a registry family the node reads, for a family on CAN."""

    id: str = "fake_can"
    name: str = "Battery on CAN bus"
    address_range: tuple[int, int] = (1, 247)
    default_unit: int = 1
    default_baudrate: int = 9600
    needs_register_map: bool = False

    def build_can(self, link: object, keepalive: bool) -> object:
        """Stand for the family's driver class (never called: see below)."""
        raise AssertionError("the node builds through build_can_driver")


class _CanLink:
    """A CAN bus that only notes that it was shut."""

    def __init__(self) -> None:
        """Open."""
        self.closed = False

    async def close(self) -> None:
        """Shut the bus."""
        self.closed = True


class _SilentBattery:
    """A battery whose bus is silent: it never identifies."""

    connects = 0

    def __init__(self, link: _CanLink) -> None:
        """Keep the link, as a CAN driver does."""
        self.link = link

    async def async_identify(self) -> None:
        """Say the bus is silent."""
        raise DeviceError("no frame on the bus")


@pytest.fixture
def can_family(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Register a CAN family; return the calls to ``build_can_driver``."""
    monkeypatch.setitem(families.FAMILIES, "fake_can", _CanFamily())
    calls: list[dict[str, Any]] = []

    def build_can_driver(
        family: object,
        interface: str,
        channel: str,
        bitrate: int | None = None,
        *,
        keepalive: bool = False,
    ) -> _SilentBattery:
        calls.append(
            {
                "family": family,
                "interface": interface,
                "channel": channel,
                "bitrate": bitrate,
                "keepalive": keepalive,
            }
        )
        return _SilentBattery(_CanLink())

    monkeypatch.setattr(families, "build_can_driver", build_can_driver, raising=False)
    return calls


def _config(*components: dict[str, Any]) -> dict[str, Any]:
    """Return a node's config with these components."""
    return {
        "node": "shed",
        "mqtt": {"host": "127.0.0.1", "port": 1},
        "components": list(components),
    }


@pytest.mark.usefixtures("can_family")
def test_a_can_component_takes_its_bus_not_a_url(tmp_path: Path) -> None:
    """Interface and channel are required, bitrate and keep-alive optional."""
    config = parse_config(
        _config(
            {
                "id": "bms1",
                "family": "fake_can",
                "interface": "socketcan",
                "channel": "can0",
                "bitrate": 500000,
            },
            {
                "id": "bms2",
                "family": "fake_can",
                "interface": "slcan",
                "channel": "socket://shed.local:3333",
                "keepalive": True,
            },
        ),
        tmp_path,
    )
    first, second = config.components
    assert first.endpoint is None
    assert first.can == CanConfig("socketcan", "can0", 500000, keepalive=False)
    assert second.can == CanConfig(
        "slcan", "socket://shed.local:3333", None, keepalive=True
    )


@pytest.mark.usefixtures("can_family")
def test_can_keys_are_checked_by_key(tmp_path: Path) -> None:
    """A CAN family without its bus, with a url, or CAN keys on a Modbus family."""
    with pytest.raises(ConfigError) as caught:
        parse_config(
            _config(
                {"id": "bms1", "family": "fake_can", "interface": "socketcan"},
                {
                    "id": "bms2",
                    "family": "fake_can",
                    "url": "tcp://h:502",
                    "interface": "socketcan",
                    "channel": "can0",
                    "bitrate": 5,
                    "keepalive": "yes",
                },
                {
                    "id": "meter1",
                    "family": "sdm630",
                    "url": "tcp://h:502",
                    "channel": "can0",
                },
            ),
            tmp_path,
        )
    assert caught.value.problems == [
        "components[0].channel: is required",
        "components[1].url: a family on a CAN bus takes interface and channel",
        "components[1].bitrate: 5 is outside 10000-1000000",
        "components[1].keepalive: must be true or false, not 'yes'",
        "components[2].channel: only a family on a CAN bus takes it",
    ]


async def test_node_builds_a_can_driver_and_shuts_its_bus(
    can_family: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The registry builds the driver from the config; a stop shuts the bus."""
    config = parse_config(
        _config(
            {
                "id": "bms1",
                "family": "fake_can",
                "interface": "socketcan",
                "channel": "can0",
                "keepalive": True,
            }
        ),
        tmp_path,
    )
    node = Node(config)
    assert can_family == [
        {
            "family": families.FAMILIES["fake_can"],
            "interface": "socketcan",
            "channel": "can0",
            "bitrate": None,
            "keepalive": True,
        }
    ]
    battery = node.components["bms1"]
    stop = asyncio.Event()
    running = asyncio.create_task(node.run(stop))
    await asyncio.sleep(0.3)
    assert not battery.available
    assert battery.error == "no frame on the bus"
    stop.set()
    await asyncio.wait_for(running, 5)
    # The stand-in driver is no Driver subclass: mypy knows no link on it.
    assert battery.driver.link.closed  # type: ignore[attr-defined]
