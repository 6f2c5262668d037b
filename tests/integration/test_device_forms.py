"""The device forms: the families that fit the way chosen, then the chosen one's form.

A user first says how the device is reached (network or serial), then picks
its family among those that can be reached so, listed by name; the second
form has that family's defaults (port, baud rate, address) and its help.
"""

from collections.abc import Iterator
import re
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_DEVICE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import InvalidData, section
from homeassistant.helpers.selector import NumberSelector, SelectSelector
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from custom_components.energy_orchestrator.device.flow import silence_hint
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Family,
    Transport,
)
from eo_lab.sim.devices.bms import EMULATORS
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.flows import add_device, open_connection_form
from tests.integration.texts import STRINGS, errors_shown

FAMILY_LABELS: dict[str, str] = STRINGS["selector"]["family"]["options"]
CONNECTIONS = {"tcp": Transport.NETWORK, "serial": Transport.SERIAL}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fields(schema: probatio.Schema) -> Iterator[tuple[str, Any, Any, str | None]]:
    """Yield each field of a form: name, schema key, validator, its section."""
    for key, value in schema.schema.items():
        if isinstance(value, section):
            for inner_key, inner in value.schema.schema.items():
                yield inner_key.schema, inner_key, inner, key.schema
        else:
            yield key.schema, key, value, None


def _selector(validator: Any) -> Any:
    """Return the selector a field's validator is or starts with."""
    if isinstance(validator, probatio.All):
        return validator.validators[0]
    return validator


async def _family_options(hass: HomeAssistant, connection: str) -> Any:
    """Return the family selector of the first form for a connection."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": connection}
    )
    assert result["step_id"] == connection
    ((name, key, validator, _),) = _fields(result["data_schema"])
    assert name == "family"
    # Nothing chosen before the user chooses: no default, and not required
    # (the frontend starts a required list on its first entry).
    assert isinstance(key, probatio.Optional)
    assert key.default is probatio.UNDEFINED
    assert isinstance(validator, SelectSelector)
    return validator


@pytest.mark.parametrize("connection", ["tcp", "serial"])
async def test_each_way_lists_its_families_by_name(
    hass: HomeAssistant, connection: str
) -> None:
    selector = await _family_options(hass, connection)
    options = selector.config["options"]
    fitting = {
        family.id
        for family in FAMILIES.values()
        if CONNECTIONS[connection] in family.transports
    }
    assert set(options) == fitting
    # In the order of their names, and sorted again by the frontend in the
    # user's language.
    labels = [FAMILY_LABELS[family] for family in options]
    assert labels == sorted(labels, key=str.casefold)
    assert selector.config["sort"] is True


async def test_network_only_and_serial_only_families_stay_apart(
    hass: HomeAssistant,
) -> None:
    serial = set((await _family_options(hass, "serial")).config["options"])
    network = set((await _family_options(hass, "tcp")).config["options"])
    assert {"alfen", "victron_gx"} <= network - serial
    assert {"voltronic_pi30", "pylontech", "jk_pb", "daly"} <= serial - network
    assert {"sdm630", "sdm120", "sdm72", "sunspec", "generic"} <= serial & network


async def test_the_family_must_be_chosen(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "tcp"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "tcp"
    assert errors_shown(result) == {"family": "Choose the kind of device."}


async def test_a_family_of_the_other_way_is_refused(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "serial"}
    )
    with pytest.raises(InvalidData):
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {"family": "victron_gx"}
        )


def _texts(step: dict[str, Any], name: str, in_section: str | None) -> tuple[str, str]:
    """Return a field's label and help in a step's strings."""
    texts = step if in_section is None else step["sections"][in_section]
    return texts["data"][name], texts["data_description"][name]


def _check_defaults(family: Family, fields: dict[str, Any]) -> None:
    """Check the form's defaults and ranges are the family's."""
    if "port" in fields:
        assert fields["port"][0].default() == family.default_port
    if "baudrate" in fields:
        assert fields["baudrate"][0].default() == family.default_baudrate
    address = {"unit_id", "pack_address", "bms_address"} & set(fields)
    if family.address is None:
        assert not address
        return
    assert address == {family.address.value}
    key, validator = fields[family.address.value]
    assert key.default() == family.default_unit
    box = _selector(validator)
    assert isinstance(box, NumberSelector)
    assert (box.config["min"], box.config["max"]) == family.address_range


@pytest.mark.parametrize(
    ("connection", "family_id"),
    [
        (connection, family.id)
        for connection, transport in CONNECTIONS.items()
        for family in FAMILIES.values()
        if transport in family.transports
    ],
)
async def test_the_connection_form_is_the_family_s(
    hass: HomeAssistant, connection: str, family_id: str
) -> None:
    family = FAMILIES[family_id]
    result = await open_connection_form(hass, connection, family_id)
    fields = {
        name: (key, validator)
        for name, key, validator, _ in _fields(result["data_schema"])
    }
    _check_defaults(family, fields)
    assert ("register_map" in fields) is family.needs_register_map

    # Every field has a label and help, and every placeholder they use is given.
    step = STRINGS["config"]["step"][result["step_id"]]
    placeholders = result["description_placeholders"]
    shown = [step["title"], step["description"]]
    for name, _, _, in_section in _fields(result["data_schema"]):
        shown += _texts(step, name, in_section)
    for text in shown:
        assert set(_PLACEHOLDER.findall(text)) <= set(placeholders), text
    rendered = " ".join(text.format(**placeholders) for text in shown)
    assert family.name in rendered
    if connection == "serial":
        assert f"{family.default_baudrate} baud" in rendered
    # Nothing of another family's: no Eastron for a battery, no Modbus
    # address for a pack.
    assert "Eastron" not in rendered or "Eastron" in family.name
    if family.address is not None:
        assert f"({family.address_range[0]}-{family.address_range[1]})" in rendered


@pytest.mark.parametrize(
    ("family", "fields_shown"),
    [
        ("pylontech", {"device", "baudrate", "pack_address"}),
        # One inverter per port: no address to change.
        ("voltronic_pi30", {"device", "baudrate"}),
    ],
)
async def test_reconfigure_shows_the_entry_s_family_and_address(
    hass: HomeAssistant, family: str, fields_shown: set[str]
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id="EOSIM0001",
        data={
            CONF_KIND: "device",
            CONF_CONNECTION: "serial",
            "family": family,
            CONF_DEVICE: "/dev/ttyUSB0",
            "baudrate": 115200,
            "unit_id": 3,
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"]["family"] == FAMILIES[family].name
    fields = {name: key for name, key, _, _ in _fields(result["data_schema"])}
    assert set(fields) == fields_shown
    assert fields["device"].description == {"suggested_value": "/dev/ttyUSB0"}
    if "pack_address" in fields:
        assert fields["pack_address"].description == {"suggested_value": 3}


async def test_a_silent_pylontech_is_blamed_on_its_address(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """Not on the baud rate, which ser2net sets."""
    async with EMULATORS["pylontech"](
        site.site, sync=site.sync, host="127.0.0.1", port=0
    ) as stack:
        result = await add_device(
            hass,
            "serial",
            "pylontech",
            {
                CONF_DEVICE: stack.url,
                "baudrate": 115200,
                "more_options": {"pack_address": 5},
            },
        )
    assert result["errors"] == {"base": "no_response_at_address"}
    shown = errors_shown(result)["base"]
    assert shown.startswith(
        "The connection works, but no device answered at this address: "
    )
    assert "(check the address on the master pack's DIP switches;" in shown
    assert "inverters use 2;" in shown
    assert "baud, not" not in shown


def _serial(family: str, device: str, baudrate: int) -> tuple[Family, dict[str, Any]]:
    return FAMILIES[family], {
        CONF_CONNECTION: "serial",
        CONF_DEVICE: device,
        "baudrate": baudrate,
    }


@pytest.mark.parametrize(
    ("family", "device", "baudrate", "hint"),
    [
        # A serial port runs at the form's rate: another one may be the cause.
        (
            "sdm120",
            "/dev/ttyUSB0",
            9600,
            " (Eastron SDM120 (single-phase meter) usually runs at 2400 baud,"
            " not 9600)",
        ),
        ("sdm120", "/dev/ttyUSB0", 2400, ""),
        (
            "voltronic_pi30",
            "rfc2217://pi:4000",
            9600,
            " (Voltronic PI30 inverter (Axpert, MKS II and relatives) usually"
            " runs at 2400 baud, not 9600)",
        ),
        # The address, whatever the line speed.
        (
            "jk_pb",
            "/dev/ttyUSB0",
            115200,
            " (check the BMS's address; 1 for a BMS alone on its bus)",
        ),
    ],
)
def test_the_hint_for_a_silent_device(
    family: str, device: str, baudrate: int, hint: str
) -> None:
    assert silence_hint(*_serial(family, device, baudrate)) == hint


def test_no_line_speed_hint_on_the_network() -> None:
    assert silence_hint(FAMILIES["sdm630"], {CONF_CONNECTION: "tcp"}) == ""
