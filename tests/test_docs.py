"""Documentation and translations that must not drift from the code."""

import json
from pathlib import Path
import re

from custom_components.energy_orchestrator.battery_manager import (
    number as battery_number,
    select as battery_select,
    sensor as battery_sensor,
)
from custom_components.energy_orchestrator.lib.drivers.values import QUANTITIES
from custom_components.energy_orchestrator.peak_shaving import (
    flow as peak_flow,
    sensor as peak_sensor,
)
from custom_components.energy_orchestrator.wallbox_manager import (
    button as wallbox_button,
    select as wallbox_select,
    sensor as wallbox_sensor,
)

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "custom_components" / "energy_orchestrator"


def test_readme_lists_every_canonical_key() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = []
    for key in QUANTITIES:
        shortened = re.sub(r"_l[23]$", "_l1", key)
        if f"`{key}`" not in readme and f"`{shortened}`" not in readme:
            missing.append(key)
    assert not missing


def test_every_canonical_key_has_a_translated_name() -> None:
    """Any key can become a sensor; each needs a name, each enum its states."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    sensors = strings["entity"]["sensor"]
    controller_sensors = {
        d.translation_key
        for d in (
            *battery_sensor.SENSORS,
            *peak_sensor.SENSORS,
            *wallbox_sensor.SENSORS,
        )
    }
    assert set(QUANTITIES) | controller_sensors == set(sensors)
    for key, quantity in QUANTITIES.items():
        if quantity.options is not None:
            assert set(sensors[key]["state"]) == set(quantity.options), key


def test_english_translation_is_strings_json() -> None:
    assert json.loads((PACKAGE / "strings.json").read_text()) == json.loads(
        (PACKAGE / "translations" / "en.json").read_text()
    )


def test_manifest_pins_what_pyproject_pins() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    for requirement in manifest["requirements"]:
        assert f'"{requirement}"' in pyproject
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_pymodbus_is_pinned_as_home_assistant_pins_it() -> None:
    """Home Assistant refuses an integration asking for another pymodbus."""
    import homeassistant

    constraints = (
        Path(homeassistant.__file__).parent / "package_constraints.txt"
    ).read_text()
    (pin,) = re.findall(r"^pymodbus==\S+$", constraints, re.MULTILINE)
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    assert pin in manifest["requirements"]


def test_every_command_has_a_translated_entity_name() -> None:
    from custom_components.energy_orchestrator.lib.drivers.commands import CommandKind

    entity = json.loads((PACKAGE / "strings.json").read_text())["entity"]
    named = set(entity["number"]) | set(entity["select"]) | set(entity["switch"])
    controller_keys = {d.translation_key for d in battery_number.THRESHOLDS} | {
        wallbox_select.MODE.translation_key,
        wallbox_select.PHASES.translation_key,
    }
    assert named == {kind.value for kind in CommandKind} | controller_keys


def test_every_family_has_a_translated_name_and_a_readme_row() -> None:
    from custom_components.energy_orchestrator.lib.drivers.families import FAMILIES

    options = json.loads((PACKAGE / "strings.json").read_text())["selector"]["family"]
    assert set(options["options"]) == set(FAMILIES)
    readme = (ROOT / "README.md").read_text()
    for family in FAMILIES:
        assert f"| `{family}` |" in readme, family


def test_controller_entities_and_actions_are_translated() -> None:
    """Every controller entity has a name and an icon, every action its texts."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    icons = json.loads((PACKAGE / "icons.json").read_text())
    for platform, descriptions in (
        ("sensor", battery_sensor.SENSORS),
        ("sensor", peak_sensor.SENSORS),
        ("sensor", wallbox_sensor.SENSORS),
        ("select", (wallbox_select.MODE, wallbox_select.PHASES)),
        ("button", (wallbox_button.CHARGE_NOW,)),
        ("number", battery_number.THRESHOLDS),
        ("select", (battery_select.MODE,)),
    ):
        for description in descriptions:
            key = description.translation_key
            assert "name" in strings["entity"][platform][key], key
            assert key in icons["entity"][platform], key
            options = getattr(description, "options", None)
            if options:
                assert set(strings["entity"][platform][key]["state"]) == set(options)
    services = (PACKAGE / "services.yaml").read_text()
    declared = set(re.findall(r"^(\w+):$", services, re.MULTILINE))
    assert declared == set(strings["services"]) == set(icons["services"])
    for name, service in strings["services"].items():
        fields = set(
            re.findall(
                r"^    (\w+):$",
                services.split(f"{name}:\n", 1)[1].split("\n\n", 1)[0],
                re.MULTILINE,
            )
        )
        assert fields == set(service["fields"]), name


def test_every_peak_shaving_form_field_is_labelled() -> None:
    """The entry's form, its options and the further battery's, added and edited."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    battery = strings["config_subentries"]["battery"]["step"]
    forms = {
        "config": (
            peak_flow.STEP_PEAK_SHAVING,
            strings["config"]["step"]["peak_shaving"],
        ),
        "options": (
            peak_flow.options_schema(),
            strings["options"]["step"]["peak_shaving"],
        ),
        "battery": (peak_flow.STEP_BATTERY, battery["user"]),
        "battery edited": (peak_flow.STEP_BATTERY, battery["reconfigure"]),
    }
    for name, (schema, texts) in forms.items():
        fields = {str(key) for key in schema.schema}
        assert fields <= set(texts["data"]), (name, fields - set(texts["data"]))
        assert set(texts.get("data_description", {})) <= fields, name
