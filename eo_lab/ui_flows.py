"""The integration's config flows and device pages, driven as a user drives them.

Playwright in Home Assistant's own frontend: the Add integration dialog,
its menu, the forms with their entity pickers, numbers, switches and
radio lists, the errors the forms show, and a device page's entity list.
Every field is found by the label the user reads (the integration's
English translations), so a renamed or missing label fails here as it
would confuse a user.
"""

from collections.abc import Mapping
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page

TRANSLATIONS = (
    Path(__file__).resolve().parents[1]
    / "custom_components"
    / "energy_orchestrator"
    / "translations"
    / "en.json"
)
INTEGRATION_NAME = "Energy Orchestrator"
ADD_INTEGRATION_DIALOG = "dialog-add-integration"
SUBMIT = "Submit"
NEXT = "Next"
# The dialog after an entry is made: name the devices, give them areas.
NAME_AND_ASSIGN = "Name and assign"
FINISH = ("Skip and finish", "Finish")
PICKER_ATTEMPTS = 3
FIELD_POLL_MS = 200
# How long the frontend may take to show a step's answer.
ANSWER_TIMEOUT_MS = 30_000

# Marks the selectors whose label is the given one, in every shadow root:
# Playwright's CSS then finds them through the shadow roots by the mark.
_MARK_FIELDS = """([label, mark]) => {
  const found = [];
  const walk = (root) => {
    for (const element of root.querySelectorAll('*')) {
      if (element.tagName.startsWith('HA-SELECTOR-') && element.label === label) {
        found.push(element);
      }
      if (element.shadowRoot) walk(element.shadowRoot);
    }
  };
  walk(document);
  found.forEach((element, index) => element.setAttribute('data-eo-field', mark + index));
  return found.map((element) => element.tagName.toLowerCase());
}"""


class FlowError(Exception):
    """The dialog did not do what a user would expect; says what."""


def load_strings() -> dict[str, Any]:
    """Return the integration's English texts, as the frontend shows them."""
    strings: dict[str, Any] = json.loads(TRANSLATIONS.read_text(encoding="utf-8"))
    return strings


@dataclass(slots=True)
class ConfigFlowDialog:
    """The frontend's dialog adding an entry of this integration."""

    page: Page
    base_url: str
    strings: dict[str, Any]

    def open(self, menu_option: str) -> None:
        """Open Add integration, find the integration, choose a menu option."""
        self.page.goto(self.base_url + "/config/integrations/dashboard")
        self.page.wait_for_load_state("load")
        self.page.get_by_text("Add integration").click()
        search = self.page.locator(ADD_INTEGRATION_DIALOG)
        search.get_by_placeholder("Search for a brand name").fill(INTEGRATION_NAME)
        # In the dialog: the dashboard behind it has the integration's card.
        search.get_by_text(INTEGRATION_NAME, exact=True).click()
        menu = self.strings["config"]["step"]["user"]["menu_options"]
        self.page.get_by_text(menu[menu_option], exact=True).click()

    def choose_family(self, step: str, family: str) -> None:
        """Choose a device family in the first form and go on."""
        step_texts = self.strings["config"]["step"][step]
        self.page.get_by_text(step_texts["title"], exact=True).wait_for()
        name = self.strings["selector"]["family"]["options"][family]
        self.page.get_by_text(name, exact=True).click()
        self.page.get_by_role("button", name=NEXT).click()

    def fill(self, step: str, form: Mapping[str, Any]) -> None:
        """Fill a step's form with ``form``, field by field, by their labels.

        Entity ids go through the entity picker's search, numbers and names
        are typed, booleans switched, options clicked in their list.
        Sections (mappings) are left as they are.
        """
        labels: dict[str, str] = self.strings["config"]["step"][step]["data"]
        self.page.locator("ha-form").first.wait_for()
        for key, value in form.items():
            if isinstance(value, Mapping):
                continue
            label = labels[key]
            if key.endswith("_entity"):
                self.pick_entity(label, value)
            elif isinstance(value, bool):
                self._switch(label, value)
            elif isinstance(value, int | float):
                self.field(label, "number").locator("input").last.fill(str(value))
            elif key in ("name", "host", "device"):
                self._type(label, value)
            else:
                self._choose(label, str(value))

    def field(self, label: str, kind: str) -> Locator:
        """Return the one selector of ``kind`` labelled ``label``.

        Waits for it: the step's form draws a moment after the last answer.
        """
        mark = f"{kind}:{label}#"
        matching: list[int] = []
        for _ in range(ANSWER_TIMEOUT_MS // FIELD_POLL_MS):
            tags = self.page.evaluate(_MARK_FIELDS, [label, mark])
            matching = [i for i, tag in enumerate(tags) if tag == f"ha-selector-{kind}"]
            if matching:
                break
            self.page.wait_for_timeout(FIELD_POLL_MS)
        if len(matching) != 1:
            raise FlowError(
                f"the form has {len(matching)} {kind} fields labelled {label!r}"
            )
        return self.page.locator(f'[data-eo-field="{mark}{matching[0]}"]')

    def pick_entity(self, label: str, entity_id: str) -> None:
        """Choose an entity in a picker: search its id, take the first match."""
        picker = self.field(label, "entity")
        for _ in range(PICKER_ATTEMPTS):
            picker.locator("ha-entity-picker").click()
            search = picker.locator("ha-picker-combo-box ha-input-search input")
            search.fill(entity_id)
            picker.locator("ha-picker-combo-box ha-combo-box-item").first.wait_for()
            # The list filters as the search is typed; let it settle.
            self.page.wait_for_timeout(200)
            search.press("ArrowDown")
            search.press("Enter")
            self.page.wait_for_timeout(200)
            if picker.evaluate("element => element.value") == entity_id:
                return
            if picker.locator("ha-picker-combo-box").count():
                self.page.keyboard.press("Escape")
        raise FlowError(f"the picker {label!r} did not take {entity_id}")

    def _type(self, label: str, value: str) -> None:
        """Type into a text field (a name, a host, a serial port)."""
        kind = "serial_port" if label == self._serial_port_label else "text"
        self.field(label, kind).locator("input").first.fill(value)

    @property
    def _serial_port_label(self) -> str:
        """Return the label of the serial form's port field."""
        label: str = self.strings["config"]["step"]["serial_connection"]["data"][
            "device"
        ]
        return label

    def _switch(self, label: str, on: bool) -> None:
        """Set a boolean field."""
        field = self.field(label, "boolean")
        if bool(field.evaluate("element => element.value")) != on:
            field.locator("ha-switch").click()

    def _choose(self, label: str, option: str) -> None:
        """Click an option of a select field shown as a list."""
        field = self.field(label, "select")
        choice = field.locator(f'ha-radio-option[value="{option}"]')
        if not choice.count():
            raise FlowError(f"the list {label!r} offers no option {option!r}")
        choice.click()

    def submit(self) -> None:
        """Send the form."""
        self.page.get_by_role("button", name=SUBMIT).click()

    def error(self, key: str) -> Locator:
        """Return where the form shows error ``key``, as its text begins."""
        text: str = self.strings["config"]["error"][key]
        return self.page.get_by_text(text.split("{", 1)[0].strip()).first

    def finish(self) -> str:
        """Wait for the entry to be made; close the dialog; return the title."""
        self.page.get_by_text(NAME_AND_ASSIGN, exact=True).wait_for(
            timeout=ANSWER_TIMEOUT_MS
        )
        name: str = self.page.locator(
            "ha-textfield input, ha-input input"
        ).first.input_value()
        finish = self.page.get_by_role("button", name=FINISH[0]).or_(
            self.page.get_by_role("button", name=FINISH[1])
        )
        finish.first.click()
        self.page.get_by_text(NAME_AND_ASSIGN, exact=True).wait_for(state="hidden")
        return name


@dataclass(frozen=True, slots=True)
class DevicePage:
    """What a device's page shows: its name and its entities' names."""

    name: str
    entities: list[str]

    def problems(self) -> list[str]:
        """Return what a user would find wrong in the entity list."""
        found = []
        if not self.entities:
            found.append(f"{self.name}: the page lists no entity")
        # The entity of the device's main feature may go by the device's
        # name (HA's name None); any other without a name of its own is a
        # second one shown by the device's name.
        if self.entities.count(self.name) > 1:
            found.append(f"{self.name}: entities without a name of their own")
        for entity in self.entities:
            if not entity:
                found.append(f"{self.name}: an entity without a name")
            elif "." in entity and " " not in entity:
                found.append(f"{self.name}: an entity shown by its id {entity}")
        twice = sorted({e for e in self.entities if self.entities.count(e) > 1})
        if twice:
            found.append(f"{self.name}: two entities named {', '.join(twice)}")
        return found


def read_device_page(
    page: Page, base_url: str, device_id: str, name: str
) -> DevicePage:
    """Open a device's page; return the names its entity cards show."""
    page.goto(f"{base_url}/config/devices/device/{device_id}")
    page.wait_for_load_state("load")
    page.get_by_text(name).first.wait_for()
    rows = page.locator("ha-device-entities-card hui-generic-entity-row .info")
    rows.first.wait_for()
    return DevicePage(name, [text.strip() for text in rows.all_inner_texts()])
