"""Writing a controller's decisions to output entities of any integration.

An output is a number (a power or current setpoint), a select (an inverter
mode) or a switch (charge or discharge enable). Control decides values; this
module only sends them, and only when the entity does not show the value
already, so an unchanged decision costs nothing on the device's bus; unless
forced, for a setpoint the device lets lapse when it is not rewritten.

A controller sends through an OutputWriter: it rewrites a setpoint before
the device lets it lapse (a Victron GX in ESS mode 3 drops its setpoint
after about 60 s, an Alfen its current after its validity time) and logs a
failing output once, and once more when it takes commands again. It claims
each output before writing it, so that one controller only drives it
(``ownership.py``).
"""

from datetime import datetime, timedelta
import logging

from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from ..const import DOMAIN
from .ownership import OutputClaims
from .site_decisions import OutputChange, Why, async_record_change

# The domains an output entity may live in, and how each takes a value.
NUMBER_DOMAINS = ("number", "input_number")
SELECT_DOMAINS = ("select", "input_select")
SWITCH_DOMAINS = ("switch", "input_boolean")

# A lapsing setpoint is rewritten at least this often: well within the
# shortest device revert timer known (60 s).
OUTPUT_KEEPALIVE = timedelta(seconds=30)

# Setpoints closer than this to what the entity shows are not sent again:
# a device rounds what it is given, and resending the same value every
# step would only load its bus.
_NUMBER_TOLERANCE = 1e-6


async def async_set_output(
    hass: HomeAssistant,
    entity_id: str,
    value: float | str | bool,
    *,
    force: bool = False,
    context: Context | None = None,
) -> bool:
    """Bring one output entity to ``value``; return whether a command was sent.

    ``force`` sends the value even when the entity shows it already; the
    call carries ``context`` (the controller's, to tell its writes apart).

    Raises HomeAssistantError (translated) when the entity is missing or
    unavailable, or when the call fails: the caller decides whether that
    stops the controller or waits for the next step.
    """
    state = hass.states.get(entity_id)
    if state is None or state.state == STATE_UNAVAILABLE:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="output_unavailable",
            translation_placeholders={"entity_id": entity_id},
        )
    domain = entity_id.partition(".")[0]
    if domain in SWITCH_DOMAINS:
        wanted_on = bool(value)
        if (state.state == STATE_ON) == wanted_on and not force:
            return False
        await hass.services.async_call(
            domain,
            SERVICE_TURN_ON if wanted_on else SERVICE_TURN_OFF,
            {ATTR_ENTITY_ID: entity_id},
            blocking=True,
            context=context,
        )
        return True
    if domain in SELECT_DOMAINS:
        if state.state == str(value) and not force:
            return False
        await hass.services.async_call(
            domain,
            "select_option",
            {ATTR_ENTITY_ID: entity_id, "option": str(value)},
            blocking=True,
            context=context,
        )
        return True
    if domain in NUMBER_DOMAINS:
        number = float(value)
        try:
            if abs(float(state.state) - number) <= _NUMBER_TOLERANCE and not force:
                return False
        except ValueError:
            pass
        await hass.services.async_call(
            domain,
            "set_value",
            {ATTR_ENTITY_ID: entity_id, "value": number},
            blocking=True,
            context=context,
        )
        return True
    raise HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="output_unsupported",
        translation_placeholders={"entity_id": entity_id},
    )


def lapses_by_default(entity_id: str) -> bool:
    """Return whether an output is a setpoint a device may let lapse (a number)."""
    return entity_id.partition(".")[0] in NUMBER_DOMAINS


class OutputWriter:
    """Sends one controller's outputs: changes, keepalives, failures logged once."""

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        logger: logging.Logger,
        keepalive: timedelta = OUTPUT_KEEPALIVE,
        *,
        claims: OutputClaims | None = None,
    ) -> None:
        """Write for the controller ``name``; log through its ``logger``.

        With ``claims`` (a controller entry's), an output is written only
        once claimed, and every write carries the claims' context.
        """
        self.hass = hass
        self.name = name
        self.claims = claims
        self._logger = logger
        self._keepalive = keepalive
        self._sent_at: dict[str, datetime] = {}
        self._failed: set[str] = set()

    @property
    def failed(self) -> frozenset[str]:
        """Return the outputs whose last command failed."""
        return frozenset(self._failed)

    async def async_write(
        self,
        entity_id: str,
        value: float | str | bool,
        now: datetime,
        *,
        lapses: bool | None = None,
        why: Why | None = None,
    ) -> bool:
        """Bring ``entity_id`` to ``value``; return whether a command was sent.

        A lapsing output (by default: a number) is sent again when its last
        command is ``keepalive`` old, even if the entity shows the value. A
        failure is logged (once, until the output takes commands again) and
        not raised: one unavailable output must not keep the others unset.
        A change sent with ``why`` is recorded for the site view.
        """
        if self.claims is not None and not self.claims.async_claim(entity_id):
            return False
        if lapses is None:
            lapses = lapses_by_default(entity_id)
        sent_at = self._sent_at.get(entity_id)
        force = lapses and (sent_at is None or now - sent_at >= self._keepalive)
        try:
            sent = await async_set_output(
                self.hass,
                entity_id,
                value,
                force=force,
                context=None if self.claims is None else self.claims.context,
            )
        except HomeAssistantError as err:
            if entity_id not in self._failed:
                self._failed.add(entity_id)
                self._logger.warning("%s: cannot set %s: %s", self.name, entity_id, err)
            return False
        if entity_id in self._failed:
            self._failed.discard(entity_id)
            self._logger.info("%s: %s takes commands again", self.name, entity_id)
        if sent:
            self._sent_at[entity_id] = now
            if why is not None:
                async_record_change(
                    self.hass,
                    OutputChange(
                        entity_id=entity_id,
                        value=value,
                        controller=self.name,
                        layer=why.layer,
                        reason=str(why.reason),
                        at=now,
                    ),
                )
        return sent
