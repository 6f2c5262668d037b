"""Adding a remote node: MQTT discovery, the user's steps, and no MQTT at all."""

from pathlib import Path
import time

from homeassistant.config_entries import SOURCE_MQTT, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import pytest

from custom_components.energy_orchestrator.const import (
    CONF_KIND,
    CONF_NODE,
    CONF_PREFIX,
    DOMAIN,
    KIND_REMOTE_NODE,
)
from tests.node.conftest import run_node

from .conftest import remote_node_entry, wait_until

CONFIG_TOPIC = "energy_orchestrator/+/+/config"


def _discovery(comp: str, payload: str | None = None) -> MqttServiceInfo:
    """Return the discovery info of a component's retained config message."""
    return MqttServiceInfo(
        topic=f"energy_orchestrator/shed/{comp}/config",
        payload=f'{{"node": "shed", "comp": "{comp}"}}' if payload is None else payload,
        qos=1,
        retain=True,
        subscribed_topic=CONFIG_TOPIC,
        timestamp=time.time(),
    )


async def test_without_mqtt_the_flow_aborts_and_an_entry_waits(
    hass: HomeAssistant,
) -> None:
    """No MQTT integration: the user step aborts; an entry retries its set-up."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": KIND_REMOTE_NODE}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"

    entry = remote_node_entry()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert entry.reason.startswith("Home Assistant's MQTT integration is not set up")


async def test_a_message_that_is_no_config_aborts(hass: HomeAssistant) -> None:
    """A cleared retained config (empty) or another JSON is not a node."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=_discovery("inv1", "")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


@pytest.mark.slow
@pytest.mark.usefixtures("broker", "ha_mqtt")
async def test_discovery_and_the_user_step_add_one_entry_per_node(
    hass: HomeAssistant, node_config: Path
) -> None:
    """The broker's retained configs start the flow; each node is one entry."""
    async with run_node(node_config):
        # Home Assistant's MQTT discovery starts the flow from a retained config.
        discovered = await wait_until(
            hass,
            lambda: [
                flow
                for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
                if flow["context"]["source"] == SOURCE_MQTT
            ],
            what="a discovered node",
        )
        assert len(discovered) == 1
        assert discovered[0]["step_id"] == "remote_node_confirm"
        assert discovered[0]["context"]["unique_id"] == "energy_orchestrator/shed"
        assert discovered[0]["context"]["title_placeholders"] == {"node": "shed"}
        # The node's other component: the same node, already being added.
        other = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_MQTT}, data=_discovery("meter1")
        )
        assert other["type"] is FlowResultType.ABORT
        assert other["reason"] == "already_in_progress"

        # The user's way: a prefix without nodes is an error, then the list.
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": KIND_REMOTE_NODE}
        )
        assert result["step_id"] == KIND_REMOTE_NODE
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PREFIX: "elsewhere"}
        )
        assert result["errors"] == {"base": "no_nodes"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PREFIX: "energy_orchestrator"}
        )
        assert result["step_id"] == "remote_node_pick"
        options = result["data_schema"].schema[CONF_NODE].config["options"]
        assert options == [{"value": "shed", "label": "shed (inv1, meter1)"}]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_NODE: "shed"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "shed"
        assert result["data"] == {
            CONF_KIND: KIND_REMOTE_NODE,
            CONF_PREFIX: "energy_orchestrator",
            CONF_NODE: "shed",
        }
        entry = result["result"]
        await wait_until(
            hass, lambda: entry.state is ConfigEntryState.LOADED, what="loaded"
        )
        # The discovered flow went with it; the node is configured now.
        assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        again = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_MQTT}, data=_discovery("inv1")
        )
        assert again["type"] is FlowResultType.ABORT
        assert again["reason"] == "already_configured"
        assert set(entry.runtime_data.components) == {"inv1", "meter1"}
