"""One owner per output: which controller drives an entity, and who else writes it.

The forms refuse an output another controller names (``kinds.py``), but
two owners can still meet at run time: entries added before the check
existed, or an entity id taken over by another entity. So a controller
claims each output it writes; a second controller's claim is refused (it
does not write, and a repair issue names the owner) until the first one
releases it by unloading.

Nothing stops a user, an automation or a script from writing an output a
controller drives; the two then fight, and the controller wins at its next
step, which looks like a device ignoring its orders. So every service call
that targets an owned output by entity id, in a context the owner did not
make, raises a repair issue naming the output and the owner.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
import logging

from homeassistant.const import (
    ATTR_DOMAIN,
    ATTR_ENTITY_ID,
    ATTR_SERVICE,
    ATTR_SERVICE_DATA,
    EVENT_CALL_SERVICE,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN

# The repair issues of ownership.
OUTPUT_SHARED = "output_shared"
OUTPUT_CONTESTED = "output_contested"

# The domains whose services write the outputs a controller drives, and
# Home Assistant's own services that reach any of them.
_WRITING_DOMAINS = frozenset(
    {"number", "input_number", "select", "input_select", "switch", "input_boolean"}
)
_WRITING_ANY = frozenset({"turn_on", "turn_off", "toggle"})

OWNERS: HassKey[dict[str, OutputClaims]] = HassKey(f"{DOMAIN}_output_owners")


def targeted_entities(service_data: object) -> set[str]:
    """Return the entity ids a service call names (one id, a list, or none)."""
    if not isinstance(service_data, dict):
        return set()
    named = service_data.get(ATTR_ENTITY_ID)
    if isinstance(named, str):
        return {part.strip() for part in named.split(",")}
    if isinstance(named, list | tuple | set):
        return {item for item in named if isinstance(item, str)}
    return set()


@dataclass(eq=False, kw_only=True)
class OutputClaims:
    """The outputs one controller entry drives, and the watch on them."""

    hass: HomeAssistant
    entry_id: str
    title: str
    logger: logging.Logger
    # Every service call the controller makes carries this context, so its
    # own writes are told from others'.
    context: Context = field(default_factory=Context)
    held: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    _unsubscribe: CALLBACK_TYPE | None = None

    @callback
    def async_claim(self, entity_id: str) -> bool:
        """Claim ``entity_id``; return whether this controller may write it.

        Refused while another loaded controller holds it: that raises the
        ``output_shared`` issue once, and a later call claims it as soon as
        the owner has released it.
        """
        if entity_id in self.held:
            return True
        owners = self.hass.data.setdefault(OWNERS, {})
        owner = owners.get(entity_id)
        if owner is not None and owner is not self:
            if self.refused.get(entity_id) != owner.title:
                self.refused[entity_id] = owner.title
                self.logger.error(
                    "%s: not writing %s: %s drives it",
                    self.title,
                    entity_id,
                    owner.title,
                )
                self._raise(
                    OUTPUT_SHARED, entity_id, owner.title, ir.IssueSeverity.ERROR
                )
            return False
        if self.refused.pop(entity_id, None) is not None:
            ir.async_delete_issue(
                self.hass, DOMAIN, self._issue_id(OUTPUT_SHARED, entity_id)
            )
        owners[entity_id] = self
        self.held.add(entity_id)
        if self._unsubscribe is None:
            self._unsubscribe = self.hass.bus.async_listen(
                EVENT_CALL_SERVICE, self._async_foreign_write, self._is_foreign_write
            )
        return True

    @callback
    def async_release(self) -> None:
        """Give up every output (the entry unloads) and clear the issues raised."""
        owners = self.hass.data.get(OWNERS, {})
        for entity_id in self.held:
            if owners.get(entity_id) is self:
                del owners[entity_id]
            ir.async_delete_issue(
                self.hass, DOMAIN, self._issue_id(OUTPUT_CONTESTED, entity_id)
            )
        for entity_id in self.refused:
            ir.async_delete_issue(
                self.hass, DOMAIN, self._issue_id(OUTPUT_SHARED, entity_id)
            )
        self.held.clear()
        self.refused.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @callback
    def _is_foreign_write(self, data: dict[str, object]) -> bool:
        """Return whether a service call writes an owned output (an event filter)."""
        writes = data.get(ATTR_DOMAIN) in _WRITING_DOMAINS or (
            data.get(ATTR_DOMAIN) == "homeassistant"
            and data.get(ATTR_SERVICE) in _WRITING_ANY
        )
        return writes and bool(
            self.held & targeted_entities(data.get(ATTR_SERVICE_DATA))
        )

    @callback
    def _async_foreign_write(self, event: Event[dict[str, object]]) -> None:
        """Raise the contest issue for a write this controller did not make."""
        if event.context.id == self.context.id:
            return
        written = self.held & targeted_entities(event.data.get(ATTR_SERVICE_DATA))
        service = f"{event.data.get(ATTR_DOMAIN)}.{event.data.get(ATTR_SERVICE)}"
        for entity_id in sorted(written):
            self.logger.warning(
                "%s: %s was written by %s from outside (%s); %s drives it and "
                "sets it back at its next step",
                self.title,
                entity_id,
                "a user" if event.context.user_id else "an automation or script",
                service,
                self.title,
            )
            self._raise(OUTPUT_CONTESTED, entity_id, service, ir.IssueSeverity.WARNING)

    def _issue_id(self, code: str, entity_id: str) -> str:
        """Return the id of one output's issue of this entry."""
        return f"{self.entry_id}_{code}_{entity_id}"

    def _raise(
        self, code: str, entity_id: str, error: str, severity: ir.IssueSeverity
    ) -> None:
        """Raise (or keep) one output's issue."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(code, entity_id),
            is_fixable=False,
            is_persistent=False,
            severity=severity,
            translation_key=code,
            translation_placeholders={
                "title": self.title,
                "entity_id": entity_id,
                "error": error,
            },
        )


def owner_of(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return the title of the loaded controller that drives ``entity_id``."""
    claims = hass.data.get(OWNERS, {}).get(entity_id)
    return None if claims is None else claims.title


def owned_outputs(hass: HomeAssistant, entry_id: str) -> Iterable[str]:
    """Return the outputs the loaded controller ``entry_id`` holds."""
    return sorted(
        entity_id
        for entity_id, claims in hass.data.get(OWNERS, {}).items()
        if claims.entry_id == entry_id
    )


def owner_of_each(hass: HomeAssistant) -> dict[str, str]:
    """Return every claimed output and the title of the controller that drives it."""
    return {
        entity_id: claims.title
        for entity_id, claims in sorted(hass.data.get(OWNERS, {}).items())
    }
