"""The dashboard's side: the card's module served and loaded, the site the card reads."""

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL, UrlManager
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.dashboard import MODULE, MODULE_URL

GRID = "sensor.meter_grid_power"
PV = "sensor.inverter_pv_power"
BATTERY = "sensor.inverter_battery_power"
SOC = "sensor.bms_soc"


async def test_the_card_is_served_and_loaded_for_every_user(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """With the frontend, the module is served and its URL changes with its content."""
    assert await async_setup_component(hass, "http", {})
    # What the frontend's set-up leaves; the frontend's own files are not needed.
    loaded: list[str] = []
    hass.data[DATA_EXTRA_MODULE_URL] = UrlManager(lambda _, url: loaded.append(url), [])
    hass.config.components.add("frontend")
    assert await async_setup_component(hass, DOMAIN, {})

    (url,) = loaded
    path, _, version = url.partition("?v=")
    assert path == MODULE_URL
    assert len(version) == 12
    answer = await (await hass_client()).get(url)
    assert answer.status == 200
    script = await answer.text()
    assert script == MODULE.read_text()
    assert 'const CARD = "energy-orchestrator-plan-card"' in script
    assert "ll-strategy-dashboard-energy-orchestrator" in script


async def test_a_headless_home_assistant_loads_no_card(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    assert DATA_EXTRA_MODULE_URL not in hass.data


async def test_the_site_names_each_controller_s_entities_and_inputs(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """The card finds the plan, the state and the measured past without entity ids."""
    assert await async_setup_component(
        hass,
        "input_number",
        {"input_number": {"battery_setpoint": {"min": -5000, "max": 5000}}},
    )
    for entity, value in ((GRID, "800"), (PV, "0"), (BATTERY, "0"), (SOC, "55")):
        unit = "%" if entity == SOC else "W"
        hass.states.async_set(entity, value, {"unit_of_measurement": unit})
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Peak shaving",
        data={
            CONF_KIND: "peak_shaving",
            "grid_power_entity": GRID,
            "pv_power_entity": PV,
            "battery_power_entity": BATTERY,
            "battery_soc_entity": SOC,
            "battery_setpoint_entity": "input_number.battery_setpoint",
            "invert_setpoint": False,
        },
        options={
            "battery_capacity_kwh": 10.0,
            "battery_max_kw": 5.0,
            "battery_soc_min": 10.0,
            "battery_soc_max": 100.0,
            "import_limit_w": 3000.0,
            "billing_interval_minutes": "15",
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": f"{DOMAIN}/site"})
    answer = await client.receive_json()
    assert answer["success"]
    (site,) = answer["result"]["entries"]
    assert site["kind"] == "peak_shaving"
    assert site["loaded"] is True
    assert len(site["device_ids"]) == 1
    entities = site["entities"]
    assert entities["planned_peak"] == "sensor.peak_shaving_planned_peak"
    assert entities["state"] == "sensor.peak_shaving"
    assert entities["active_import_limit"] == "sensor.peak_shaving_active_import_limit"
    assert site["inputs"] == {
        "grid_power": GRID,
        "pv_power": PV,
        "battery_power": BATTERY,
        "battery_soc": SOC,
        "battery_setpoint": "input_number.battery_setpoint",
    }
    assert site["batteries"] == []
    # Without a plan yet, the state's reason says why: the card shows it.
    state = hass.states.get(entities["state"])
    assert state is not None
    assert state.attributes["reason"]
