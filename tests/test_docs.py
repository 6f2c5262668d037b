"""Documentation and translations that must not drift from the code."""

import argparse
import json
from pathlib import Path
import re
import tomllib

from custom_components.energy_orchestrator.battery_manager import (
    number as battery_number,
    select as battery_select,
    sensor as battery_sensor,
)
from custom_components.energy_orchestrator.flexible_loads import (
    sensor as loads_sensor,
    switch as loads_switch,
)
from custom_components.energy_orchestrator.lib.drivers.base import SubDeviceKind
from custom_components.energy_orchestrator.lib.drivers.values import QUANTITIES
from custom_components.energy_orchestrator.peak_shaving import (
    flow as peak_flow,
    sensor as peak_sensor,
)
from custom_components.energy_orchestrator.site_report import (
    sensor as site_report_sensor,
)
from custom_components.energy_orchestrator.site_view import sensor as site_sensor
from custom_components.energy_orchestrator.wallbox_manager import (
    button as wallbox_button,
    select as wallbox_select,
    sensor as wallbox_sensor,
)
from eo_lab import cli

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "custom_components" / "energy_orchestrator"
DOCS = ROOT / "docs"

# Linked from the docs but written on other branches; a link to one of these
# may point nowhere until that branch is merged, and must resolve after.


def _markdown_files() -> list[Path]:
    """Return the README and every page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _prose(text: str) -> str:
    """Return markdown without its fenced code blocks."""
    return re.sub(r"^```.*?^```$", "", text, flags=re.MULTILINE | re.DOTALL)


def _anchors(path: Path) -> set[str]:
    """Return the anchors GitHub makes of a page's headings."""
    headings = re.findall(r"^#+ (.+)$", _prose(path.read_text()), re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        for heading in headings
    }


def _section(text: str, heading: str) -> str:
    """Return the text under a heading, up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n")
    end = text.find(f"\n{level} ", start + 1)
    return text[start : end if end != -1 else None]


def test_devices_doc_lists_every_canonical_key() -> None:
    devices = (DOCS / "devices.md").read_text()
    missing = []
    for key in QUANTITIES:
        shortened = re.sub(r"_l[23]$", "_l1", key)
        if f"`{key}`" not in devices and f"`{shortened}`" not in devices:
            missing.append(key)
    assert not missing


def test_devices_doc_states_each_key_s_resolution() -> None:
    """The resolution column is the one values.py rounds to."""
    devices = (DOCS / "devices.md").read_text()
    wrong = []
    for row in re.findall(
        r"^\| `([a-z0-9_]+)`[^|]*\| [^|]+ \| ([^|]+) \|", devices, re.M
    ):
        key, stated = row
        quantity = QUANTITIES[key]
        if quantity.options is not None:
            expected = "–"
        elif quantity.decimals == 0:
            expected = "1"
        else:
            expected = f"{10**-quantity.decimals:.{quantity.decimals}f}"
        if stated.strip() != expected:
            wrong.append(f"{key}: {stated.strip()} (values.py: {expected})")
    assert not wrong


def test_every_relative_link_resolves() -> None:
    """Links and images in the README and docs/ point at files and headings."""
    broken = []
    for page in _markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text())):
            if re.match(r"[a-z]+:", target):
                continue
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            where = f"{page.relative_to(ROOT)}: {target}"
            if (
                not path.is_relative_to(ROOT)
                or not path.exists()
                or (anchor and path.suffix == ".md" and anchor not in _anchors(path))
            ):
                broken.append(where)
    assert not broken


def test_readme_is_for_users() -> None:
    """The README stays a user's page; the rest lives in docs/."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert f"Home Assistant {hacs['homeassistant']} or newer" in readme
    # The developer quick start names scripts that exist and run.
    quick_start = _section(readme, "## Development")
    commands = re.findall(r"^(scripts/\w+)", quick_start, re.MULTILINE)
    assert commands == ["scripts/setup", "scripts/test", "scripts/develop"]
    for command in commands:
        assert (ROOT / command).stat().st_mode & 0o111, command
    assert "(docs/development.md)" in quick_start


def test_eo_doc_shows_every_command_and_option() -> None:
    """Each `eo` command has an example in its section, with all its options."""
    eo_doc = (DOCS / "eo.md").read_text()

    def commands(
        parser: argparse.ArgumentParser,
    ) -> dict[str, argparse.ArgumentParser]:
        (action,) = (
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        return dict(action.choices)

    missing = []
    for name, parser in commands(cli._parser()).items():
        section = _section(eo_doc, f"## `eo {name}`")
        subcommands = commands(parser) if name == "bench" else {"": parser}
        for sub, command in subcommands.items():
            example = f"$ eo {name} {sub}".rstrip() + " "
            if example not in section:
                missing.append(example)
            for action in command._actions:
                missing.extend(
                    f"eo {name} {sub} {option}"
                    for option in action.option_strings
                    if option.startswith("--")
                    and option != "--help"
                    and option not in section
                )
    assert not missing


def test_every_action_and_controller_entity_is_on_its_page() -> None:
    """A controller's page names its entities, their states and the actions."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    pages = {
        "battery-manager.md": (
            ("sensor", battery_sensor.SENSORS),
            ("number", battery_number.THRESHOLDS),
            ("select", (battery_select.MODE,)),
        ),
        "peak-shaving.md": (("sensor", peak_sensor.SENSORS),),
        "wallbox-manager.md": (
            ("sensor", wallbox_sensor.SENSORS),
            ("select", (wallbox_select.MODE, wallbox_select.PHASES)),
            ("button", (wallbox_button.CHARGE_NOW,)),
        ),
        "reports.md": (("sensor", site_report_sensor.SENSORS),),
        "orchestration.md": (("sensor", site_sensor.SENSORS),),
        "flexible-loads.md": (
            ("sensor", (*loads_sensor.SENSORS, *loads_sensor.LOAD_SENSORS)),
            ("switch", (loads_switch.CONTROL,)),
        ),
    }
    missing = []
    for page, platforms in pages.items():
        text = " ".join((DOCS / page).read_text().split())
        for platform, descriptions in platforms:
            for description in descriptions:
                texts = strings["entity"][platform][description.translation_key]
                # The main feature is named by the controller's device.
                name = texts.get("name", "named as its device")
                if name not in text:
                    missing.append(f"{page}: {name}")
                missing.extend(
                    f"{page}: {name}: {state}"
                    for state in getattr(description, "options", None) or ()
                    if f"`{state}`" not in text
                )
    controller_pages = "".join((DOCS / page).read_text() for page in pages)
    missing.extend(
        f"action {name}"
        for name in strings["services"]
        if not re.search(rf"\b{name}\b", controller_pages)
    )
    assert not missing


def test_development_doc_states_the_pins() -> None:
    """The versions development.md names are those pyproject.toml pins."""
    from homeassistant.const import __version__ as home_assistant

    development = " ".join((DOCS / "development.md").read_text().split())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = dict(
        requirement.split("==")
        for requirement in (
            *pyproject["project"]["dependencies"],
            *pyproject["dependency-groups"]["dev"],
        )
    )
    plugin = "pytest-homeassistant-custom-component"
    pinned = f"`{plugin}=={pins[plugin]}`, which pins Home Assistant {home_assistant}"
    assert pinned in development
    for library in ("modbus-connection[tmodbus]", "tmodbus", "serialx", "pymodbus"):
        assert f"`{library}=={pins[library]}`" in development, library


def _layout() -> set[Path]:
    """Return every path the layout tree of development.md names."""
    tree = re.search(
        r"^## Layout\n.*?^```text\n(.*?)^```$",
        (DOCS / "development.md").read_text(),
        re.MULTILINE | re.DOTALL,
    )
    assert tree is not None
    named: set[Path] = set()
    parents: list[Path] = []
    for line in tree.group(1).splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        del parents[depth:]
        names = re.split(r" {2,}", line.strip())[0].split(" ")
        base = parents[-1] if parents else ROOT
        for name in names:
            named.add(base / name.rstrip("/"))
        if len(names) == 1 and names[0].endswith("/"):
            parents.append(base / names[0].rstrip("/"))
    return named


def test_layout_names_what_exists_and_every_layer() -> None:
    """The layout in development.md is the tree: nothing stale, no layer left out."""
    named = _layout()
    stale = {
        path
        for path in named
        if not path.exists() and not path.with_suffix(".py").exists()
    }
    assert not stale
    layers = [
        PACKAGE,
        PACKAGE / "lib" / "drivers",
        PACKAGE / "lib" / "control",
        ROOT / "eo_lab",
        ROOT / "eo_lab" / "sim",
    ]
    unnamed = {
        child
        for folder in layers
        for child in folder.iterdir()
        if child.name != "__pycache__"
        and (child.name != "__init__.py" or folder == PACKAGE)
        and child not in named
        and child.with_suffix("") not in named
    }
    assert not unnamed


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
            *site_report_sensor.SENSORS,
            *site_sensor.SENSORS,
            *loads_sensor.SENSORS,
            *loads_sensor.LOAD_SENSORS,
        )
    } | {"active_customers"}
    # On a part (a PV input, a pack, a meter) a value's name leaves out what
    # the part is: "part_pv_power" is "Power".
    on_parts = {
        f"part_{key}"
        for key, quantity in QUANTITIES.items()
        if quantity.options is None
        and key.startswith(tuple(f"{kind}_" for kind in SubDeviceKind if kind))
    }
    assert set(QUANTITIES) | on_parts | controller_sensors == set(sensors)
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


def test_modbus_libraries_are_pinned_as_home_assistant_pins_them() -> None:
    """The Modbus units are Home Assistant's: its modbus integration's libraries.

    Home Assistant refuses an integration asking for other versions of them;
    pymodbus (the simulator's) is pinned as Home Assistant pins it too.
    """
    import homeassistant

    modbus = json.loads(
        (
            Path(homeassistant.__file__).parent
            / "components"
            / "modbus"
            / "manifest.json"
        ).read_text()
    )
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    for requirement in modbus["requirements"]:
        assert f'"{requirement}"' in pyproject
        if not requirement.startswith("pymodbus"):
            assert requirement in manifest["requirements"]
    assert manifest["dependencies"] == ["modbus"]


def test_every_command_has_a_translated_entity_name() -> None:
    from custom_components.energy_orchestrator.lib.drivers.commands import CommandKind

    entity = json.loads((PACKAGE / "strings.json").read_text())["entity"]
    named = set(entity["number"]) | set(entity["select"]) | set(entity["switch"])
    controller_keys = {d.translation_key for d in battery_number.THRESHOLDS} | {
        wallbox_select.MODE.translation_key,
        wallbox_select.PHASES.translation_key,
        loads_switch.CONTROL.translation_key,
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
        ("sensor", site_report_sensor.SENSORS),
        ("select", (wallbox_select.MODE, wallbox_select.PHASES)),
        ("button", (wallbox_button.CHARGE_NOW,)),
        ("number", battery_number.THRESHOLDS),
        ("select", (battery_select.MODE,)),
        ("sensor", (*loads_sensor.SENSORS, *loads_sensor.LOAD_SENSORS)),
        ("switch", (loads_switch.CONTROL,)),
    ):
        for description in descriptions:
            key = description.translation_key
            # A name, or none where the entity is its device's main feature.
            assert ("name" in strings["entity"][platform][key]) is (
                description.name is not None
            ), key
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


# What Markdown reads as a block at the start of a line: a quote, a heading,
# a list item, a thematic break or setext underline, a table row, HTML, and
# an indented code block.
_MARKDOWN_BLOCK = re.compile(
    r"^(?: {4}|\t| {0,3}(?:>|#{1,6}(?:\s|$)|[-+*](?:\s|$)|\d{1,9}[.)](?:\s|$)"
    r"|[-=_*]{3,}\s*$|\||<))"
)
# What it reads inline: emphasis, code and HTML tags (dropped by the frontend).
_MARKDOWN_INLINE = re.compile(r"(?<!\w)[_*]\S|\S[_*](?!\w)|`|<[A-Za-z/!?]")


def _markdown_hazards(text: str) -> list[str]:
    """Return the lines of a text Markdown would not show as they are written.

    Placeholders (``{entity_id}``) are filled in before the text is rendered
    and are left out.
    """
    hazards = []
    for line in re.sub(r"\{\w+\}", "x", text).splitlines():
        if _MARKDOWN_BLOCK.match(line) or _MARKDOWN_INLINE.search(line):
            hazards.append(line)
    return hazards


def _strings(texts: object, path: str = "") -> list[tuple[str, str]]:
    """Return every text of strings.json with where it is."""
    if isinstance(texts, dict):
        return [
            item
            for key, value in texts.items()
            for item in _strings(value, f"{path}.{key}" if path else key)
        ]
    return [(path, texts)] if isinstance(texts, str) else []


def test_markdown_hazards_are_found() -> None:
    """The check itself: each of these renders otherwise than written."""
    for text in (
        "> 0 when importing.",
        "# of phases",
        "- a list",
        "1. first",
        "2) second",
        "see the _note_",
        "*bold*",
        "use `eo`",
        "a <b>tag</b>",
        "first line\n    code",
        "---",
        "| a | b |",
    ):
        assert _markdown_hazards(text), text
    for text in (
        "Positive when importing (> 0).",
        "The output {entity_id} is missing.",
        "0.34-1, 25 A at 230 V is 5750 W",
        "1 or 3 phases",
        "-5000 to 5000 W",
    ):
        assert not _markdown_hazards(text), text


def test_strings_render_as_written() -> None:
    """The frontend renders form and repair texts as Markdown: none may read as it."""
    strings = json.loads((PACKAGE / "strings.json").read_text())
    hazards = [
        f"{path}: {line}"
        for path, text in _strings(strings)
        for line in _markdown_hazards(text)
    ]
    assert not hazards


def test_every_repair_issue_says_what_to_do() -> None:
    """An informative issue has a description; a fixable one the form of its fix."""
    issues = json.loads((PACKAGE / "strings.json").read_text())["issues"]
    for key, texts in issues.items():
        assert texts["title"], key
        if "fix_flow" in texts:
            assert "description" not in texts, key
            for step_id, step in texts["fix_flow"]["step"].items():
                assert step["description"], key
                # A step that only asks to confirm has no field to name.
                assert step_id == "confirm" or step["data"], key
        else:
            assert texts["description"], key
