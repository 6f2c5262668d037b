"""The remote node's forms: the prefix, then a node found on the broker.

A node is found by its components' retained config messages: subscribed to
``<prefix>/+/+/config`` for a moment, the broker hands over every one it
keeps. MQTT discovery (the manifest's ``mqtt`` topics) starts the same flow
from one of those messages.
"""

import asyncio
import json
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from ..const import CONF_NODE, CONF_PREFIX, DEFAULT_NODE_PREFIX
from .mqtt import async_subscribe

if TYPE_CHECKING:
    from .mqtt import Message

# How long the user step listens for retained config messages.
LISTEN_S = 1.5

STEP_REMOTE_NODE = probatio.Schema(
    {probatio.Required(CONF_PREFIX, default=DEFAULT_NODE_PREFIX): TextSelector()}
)


def pick_schema(nodes: dict[str, list[str]]) -> probatio.Schema:
    """Return the form choosing one of the nodes found."""
    return probatio.Schema(
        {
            probatio.Required(CONF_NODE): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(
                            value=node, label=f"{node} ({', '.join(comps)})"
                        )
                        for node, comps in sorted(nodes.items())
                    ]
                )
            )
        }
    )


def parse_config_topic(topic: str) -> tuple[str, str, str] | None:
    """Return (prefix, node, comp) of a component's config topic, or None."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[-1] != "config":
        return None
    return "/".join(levels[:-3]), levels[-3], levels[-2]


def is_component_config(payload: Any) -> bool:
    """Return whether a payload is a component's config message (not a cleared one)."""
    text = payload.decode() if isinstance(payload, bytes) else str(payload)
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and "comp" in body and "node" in body


async def async_find_nodes(
    hass: HomeAssistant, prefix: str, listen: float = LISTEN_S
) -> dict[str, list[str]]:
    """Return the nodes whose components' config the broker keeps, and their ids."""
    found: dict[str, set[str]] = {}

    @callback
    def on_config(message: Message) -> None:
        """Note a component's node."""
        if (where := parse_config_topic(message.topic)) is None:
            return
        if is_component_config(message.payload):
            found.setdefault(where[1], set()).add(where[2])

    unsubscribe = await async_subscribe(hass, f"{prefix}/+/+/config", on_config)
    try:
        await asyncio.sleep(listen)
    finally:
        unsubscribe()
    return {node: sorted(comps) for node, comps in found.items()}
