"""Home Assistant's will trips the fail-safe when it is news, not when retained.

A broker keeps a retained ``offline`` from a Home Assistant set up to retain
its will; the node meets it again at each reconnect. Only a live one trips
at once; a Home Assistant really gone stops its heartbeat too.
"""

import asyncio
from pathlib import Path

import aiomqtt

from eo_node.config import parse_config
from eo_node.node import Node
from eo_node.protocol import HOME_ASSISTANT_STATUS, OFFLINE


def _node(tmp_path: Path) -> Node:
    """Return a node that has heard a heartbeat; nothing is opened."""
    config = parse_config(
        {
            "node": "shed",
            "mqtt": {"host": "127.0.0.1"},
            "components": [
                {"id": "meter1", "family": "sdm630", "url": "tcp://127.0.0.1:1"}
            ],
        },
        tmp_path,
    )
    node = Node(config)
    node.watchdog.heartbeat(0.0)
    return node


def _will(*, retain: bool) -> aiomqtt.Message:
    """Return Home Assistant's ``offline`` as the broker delivers it."""
    return aiomqtt.Message(
        HOME_ASSISTANT_STATUS,
        OFFLINE.encode(),
        qos=1,
        retain=retain,
        mid=1,
        properties=None,
    )


async def test_a_retained_will_does_not_trip_a_live_one_does(tmp_path: Path) -> None:
    """The retained ``offline`` leaves the controller in charge; the live one trips."""
    node = _node(tmp_path)
    node._on_message(_will(retain=True))
    await asyncio.sleep(0.05)
    assert not node.watchdog.holding
    node._on_message(_will(retain=False))
    await asyncio.sleep(0.05)
    assert node.watchdog.holding
