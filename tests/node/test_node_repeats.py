"""What the node makes of messages that arrive twice, without a broker.

A broker keeps a retained ``offline`` from a Home Assistant set up to retain
its will; the node meets it again at each reconnect. Only a live one trips
at once; a Home Assistant really gone stops its heartbeat too. A request the
broker delivers again while the first delivery is still being carried out
is carried out once.
"""

import asyncio
from collections.abc import Mapping
import json
from pathlib import Path
import time
from typing import Any

import aiomqtt

from eo_node.config import parse_config
from eo_node.node import Node
from eo_node.protocol import HOME_ASSISTANT_STATUS, OFFLINE, utc_now_text


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


class _SlowMeter:
    """A component whose command takes a while, counting how often it runs."""

    def __init__(self) -> None:
        """Not asked yet."""
        self.carried_out = 0

    async def handle(
        self, command: str, parameters: Mapping[str, Any], *, failsafe: bool
    ) -> dict[str, Any]:
        """Take half a second, as a slow serial device does."""
        self.carried_out += 1
        await asyncio.sleep(0.5)
        return {}


async def test_a_request_delivered_again_while_it_runs_runs_once(
    tmp_path: Path,
) -> None:
    """The second delivery of a running request neither runs nor answers."""
    node = _node(tmp_path)
    meter = _SlowMeter()
    node.components["meter1"] = meter  # type: ignore[assignment]  # a stand-in
    payload = json.dumps(
        {"request_id": 3, "time": utc_now_text(time.time()), "command": "read"}
    ).encode()
    await asyncio.gather(
        node._answer("meter1", payload), node._answer("meter1", payload)
    )
    assert meter.carried_out == 1
    # Once answered, a delivery is answered from memory, still not run again.
    await node._answer("meter1", payload)
    assert meter.carried_out == 1
