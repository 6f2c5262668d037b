"""Snapshot of the battery manager's price plan sensor, with a tariff by time of day."""

from datetime import UTC, datetime

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from syrupy.assertion import SnapshotAssertion

from .test_controllers import battery_manager

NOW = datetime(2026, 6, 1, 0, tzinfo=UTC)

pytestmark = pytest.mark.freeze_time(NOW)


async def test_price_plan_sensor(
    hass: HomeAssistant, snapshot: SnapshotAssertion
) -> None:
    """The price plan sensor's entry and state after the step that plans."""
    await hass.config.async_set_time_zone("UTC")
    entry = await battery_manager(hass)
    entry = entry.__class__(
        domain=entry.domain,
        title=entry.title,
        entry_id=entry.entry_id,
        minor_version=2,
        data=dict(entry.data),
        options={
            **entry.options,
            "time_of_use": "00:00 0.08, 06:00 0.20, 18:00 0.40, 22:00 0.20",
            "cycle_cost_per_kwh": 0.01,
            "round_trip_efficiency": 90,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id(
        "sensor", "energy_orchestrator", "battery_manager_price_plan"
    )
    assert entity_id is not None
    assert registry.async_get(entity_id) == snapshot(name="entry")
    assert hass.states.get(entity_id) == snapshot(name="state")
    assert hass.states.get("sensor.house_battery_reason") == snapshot(name="reason")
    assert await hass.config_entries.async_unload(entry.entry_id)
