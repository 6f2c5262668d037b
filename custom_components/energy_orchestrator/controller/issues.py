"""Repair issues of a controller: a setup that cannot work, where Home Assistant shows them.

What a controller's form checked can change after the entry is added: an
entity is removed or renamed, a solar forecast service deleted, an output's
range changed (or the entry was added before the check existed). After
every step the entry looks again and raises a repair issue for each
problem, and clears it once the problem is gone.

An input that no longer exists is replaced from its issue
(``controller/repairs.py``). An output that no longer exists is not: it
names the controller, and another controller may drive its replacement,
so its issue says what to do instead.
"""

from collections.abc import Callable, Collection
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CoreState, HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.selector import EntitySelector
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
import probatio

from ..const import DOMAIN
from .problems import SetupProblem

INPUT_MISSING = "input_missing"
OUTPUT_MISSING = "output_missing"

type ProblemsOf = Callable[[HomeAssistant, Any], list[SetupProblem]]


def entity_fields(schema: probatio.Schema) -> dict[str, EntitySelector]:
    """Return a form's entity fields and their pickers, its sections opened."""
    fields: dict[str, EntitySelector] = {}
    for marker, value in schema.schema.items():
        if isinstance(value, section):
            fields |= entity_fields(value.schema)
        elif isinstance(value, EntitySelector):
            fields[str(marker)] = value
    return fields


def _gone(hass: HomeAssistant, entity_id: str) -> bool:
    """Return whether an entity no longer exists: it has no state and no entry.

    An entity whose integration has not loaded (yet) keeps its registry
    entry, and is not gone.
    """
    return (
        hass.states.get(entity_id) is None
        and er.async_get(hass).async_get(entity_id) is None
    )


def issue_id(entry: ConfigEntry[Any], problem: SetupProblem) -> str:
    """Return the id of a problem's repair issue: the entry, the problem, its subject."""
    return f"{entry.entry_id}_{problem.code}_{problem.subject}"


class SetupIssues:
    """Raises and clears the repair issues of one controller entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        *,
        form: probatio.Schema,
        output_keys: Collection[str],
        problems_of: ProblemsOf,
    ) -> None:
        """Watch an entry added with ``form``; ``problems_of`` checks its kind."""
        self.hass = hass
        self.entry = entry
        self._fields = entity_fields(form)
        self._output_keys = output_keys
        self._problems_of = problems_of
        self._raised: set[str] = set()

    def _missing(self) -> list[SetupProblem]:
        """Return the entities the entry and its subentries name that are gone."""
        # While Home Assistant starts, other integrations still add theirs.
        if self.hass.state is not CoreState.running:
            return []
        parts: list[tuple[str | None, Any]] = [
            (None, self.entry.data),
            *(
                (subentry.subentry_id, subentry.data)
                for subentry in self.entry.subentries.values()
            ),
        ]
        problems = []
        for subentry_id, data in parts:
            for key in self._fields:
                entity_id = data.get(key)
                if not entity_id or not _gone(self.hass, entity_id):
                    continue
                output = key in self._output_keys
                problems.append(
                    SetupProblem(
                        code=OUTPUT_MISSING if output else INPUT_MISSING,
                        field=key,
                        subject=entity_id,
                        subentry_id=subentry_id,
                        fixable=not output,
                    )
                )
        return problems

    @callback
    def async_check(self) -> None:
        """Raise an issue for each problem now; clear those that are gone."""
        entry = self.entry
        problems = [*self._missing(), *self._problems_of(self.hass, entry)]
        wanted = {issue_id(entry, problem): problem for problem in problems}
        for gone in self._raised - wanted.keys():
            ir.async_delete_issue(self.hass, DOMAIN, gone)
        for raised, problem in wanted.items():
            # Raising one that exists changes nothing (nor its dismissal).
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                raised,
                is_fixable=problem.fixable,
                severity=problem.severity,
                translation_key=problem.code,
                translation_placeholders={
                    "title": entry.title,
                    "entity_id": problem.subject,
                    "error": problem.detail,
                },
                data={
                    "entry_id": entry.entry_id,
                    "subentry_id": problem.subentry_id,
                    "code": problem.code,
                    "field": problem.field,
                    "subject": problem.subject,
                },
            )
        self._raised = set(wanted)

    @callback
    def async_clear(self) -> None:
        """Clear every issue raised (the entry unloads, or is deleted)."""
        for raised in self._raised:
            ir.async_delete_issue(self.hass, DOMAIN, raised)
        self._raised = set()


@callback
def async_watch_setup(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    coordinator: DataUpdateCoordinator[Any],
    *,
    form: probatio.Schema,
    output_keys: Collection[str],
    problems_of: ProblemsOf,
) -> None:
    """Look for problems now and after every step, until the entry unloads."""
    issues = SetupIssues(
        hass, entry, form=form, output_keys=output_keys, problems_of=problems_of
    )
    issues.async_check()
    entry.async_on_unload(coordinator.async_add_listener(issues.async_check))
    entry.async_on_unload(issues.async_clear)
