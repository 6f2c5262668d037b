"""Controller inputs and outputs against real Home Assistant state and services."""

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.components.input_select import DOMAIN as INPUT_SELECT
from homeassistant.const import EVENT_CALL_SERVICE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.energy_orchestrator.controller.inputs import (
    InputQuantity,
    read_input,
)
from custom_components.energy_orchestrator.controller.outputs import (
    OUTPUT_KEEPALIVE,
    OutputWriter,
    async_set_output,
)


@pytest.mark.parametrize(
    ("state", "unit", "quantity", "expected"),
    [
        ("1.5", "kW", InputQuantity.POWER, 1500.0),
        ("-300", "W", InputQuantity.POWER, -300.0),
        ("2500", "mA", InputQuantity.CURRENT, 2.5),
        ("52.1", "V", InputQuantity.VOLTAGE, 52.1),
        ("68", "%", InputQuantity.PERCENT, 68.0),
        ("77", "°F", InputQuantity.TEMPERATURE, 25.0),
        # What cannot be trusted is None, never a guess.
        ("unavailable", "W", InputQuantity.POWER, None),
        ("unknown", "W", InputQuantity.POWER, None),
        ("nan", "W", InputQuantity.POWER, None),
        ("inf", "A", InputQuantity.CURRENT, None),
        ("on", "W", InputQuantity.POWER, None),
        ("1200", None, InputQuantity.POWER, None),
        ("1200", "kWh", InputQuantity.POWER, None),
        ("68", None, InputQuantity.PERCENT, None),
    ],
)
async def test_read_input_converts_or_refuses(
    hass: HomeAssistant,
    state: str,
    unit: str | None,
    quantity: InputQuantity,
    expected: float | None,
) -> None:
    """Readings arrive in control's unit; anything untrustworthy is None."""
    attributes = {"unit_of_measurement": unit} if unit else {}
    hass.states.async_set("sensor.x", state, attributes)
    value = read_input(hass, "sensor.x", quantity, dt_util.utcnow())
    assert value == (pytest.approx(expected) if expected is not None else None)


async def test_read_input_missing_or_stale(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A missing entity is None; so is one that stopped reporting."""
    assert (
        read_input(hass, "sensor.nothing", InputQuantity.POWER, dt_util.utcnow())
        is None
    )
    assert read_input(hass, None, InputQuantity.POWER, dt_util.utcnow()) is None
    hass.states.async_set("sensor.p", "100", {"unit_of_measurement": "W"})
    freezer.tick(timedelta(minutes=9))
    assert read_input(hass, "sensor.p", InputQuantity.POWER, dt_util.utcnow()) == 100.0
    freezer.tick(timedelta(minutes=2))
    assert read_input(hass, "sensor.p", InputQuantity.POWER, dt_util.utcnow()) is None
    # Reporting the same value again makes it fresh.
    hass.states.async_set(
        "sensor.p", "100", {"unit_of_measurement": "W"}, force_update=True
    )
    assert read_input(hass, "sensor.p", InputQuantity.POWER, dt_util.utcnow()) == 100.0


@pytest.fixture
async def helpers(hass: HomeAssistant) -> None:
    """Set up input helpers to act as another integration's outputs."""
    assert await async_setup_component(
        hass, INPUT_NUMBER, {INPUT_NUMBER: {"setpoint": {"min": -5000, "max": 5000}}}
    )
    assert await async_setup_component(
        hass,
        INPUT_SELECT,
        {INPUT_SELECT: {"mode": {"options": ["Standby", "Charge", "Sell"]}}},
    )
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"charge": {}}}
    )


@pytest.mark.usefixtures("helpers")
async def test_set_output_sends_only_changes(hass: HomeAssistant) -> None:
    """Each kind of output takes its value; an unchanged one is not sent."""
    assert await async_set_output(hass, "input_number.setpoint", -2000.0)
    assert hass.states.get("input_number.setpoint").state == "-2000.0"
    assert not await async_set_output(hass, "input_number.setpoint", -2000.0)
    assert await async_set_output(hass, "input_select.mode", "Charge")
    assert hass.states.get("input_select.mode").state == "Charge"
    assert not await async_set_output(hass, "input_select.mode", "Charge")
    assert await async_set_output(hass, "input_boolean.charge", True)
    assert hass.states.get("input_boolean.charge").state == "on"
    assert not await async_set_output(hass, "input_boolean.charge", True)
    assert await async_set_output(hass, "input_boolean.charge", False)
    assert hass.states.get("input_boolean.charge").state == "off"


@pytest.mark.usefixtures("helpers")
async def test_set_output_errors(hass: HomeAssistant) -> None:
    """A missing, unavailable or unsuitable output is a translated error."""
    with pytest.raises(HomeAssistantError) as missing:
        await async_set_output(hass, "switch.gone", True)
    assert missing.value.translation_key == "output_unavailable"
    hass.states.async_set("sensor.power", "12")
    with pytest.raises(HomeAssistantError) as unsuitable:
        await async_set_output(hass, "sensor.power", 5.0)
    assert unsuitable.value.translation_key == "output_unsupported"


@pytest.mark.usefixtures("helpers")
async def test_the_writer_rewrites_a_setpoint_before_the_device_lets_it_lapse(
    hass: HomeAssistant,
) -> None:
    """A GX in ESS mode 3 drops a setpoint not rewritten for 60 s.

    An unchanged number is sent again once its last command is
    OUTPUT_KEEPALIVE old; an unchanged select is not (a mode does not lapse).
    """
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    writer = OutputWriter(hass, "Peak shaving", logging.getLogger(__name__))
    start = dt_util.utcnow()
    assert await writer.async_write("input_number.setpoint", -2000, start)
    assert await writer.async_write("input_select.mode", "Charge", start)
    later = start + OUTPUT_KEEPALIVE - timedelta(seconds=1)
    assert not await writer.async_write("input_number.setpoint", -2000, later)
    assert not await writer.async_write("input_select.mode", "Charge", later)
    due = start + OUTPUT_KEEPALIVE
    assert await writer.async_write("input_number.setpoint", -2000, due)
    assert not await writer.async_write("input_select.mode", "Charge", due)
    await hass.async_block_till_done()
    assert [call.data["domain"] for call in calls] == [
        INPUT_NUMBER,
        INPUT_SELECT,
        INPUT_NUMBER,
    ]


@pytest.mark.usefixtures("helpers")
async def test_the_writer_logs_a_failing_output_once_and_its_return(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures are not raised: the other outputs must still be set."""
    writer = OutputWriter(hass, "House battery", logging.getLogger(__name__))
    now = dt_util.utcnow()
    hass.states.async_set("input_number.setpoint", "unavailable")
    for _ in range(3):
        assert not await writer.async_write("input_number.setpoint", 100, now)
    assert caplog.text.count("House battery: cannot set input_number.setpoint") == 1
    assert writer.failed == {"input_number.setpoint"}
    hass.states.async_set("input_number.setpoint", "0", {"min": -5000, "max": 5000})
    assert await writer.async_write("input_number.setpoint", 100, now)
    assert "House battery: input_number.setpoint takes commands again" in caplog.text
    assert writer.failed == frozenset()
