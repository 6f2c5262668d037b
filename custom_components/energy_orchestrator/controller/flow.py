"""What the controllers' config and options flows share.

A controller's form is checked by a function of its own package; the
checked form comes back as a ``ControllerForm``. Its settings are edited by
an options flow built on ``ControllerOptionsFlow``, the parts it has several
of (a flexible load, a further battery) by a ``ControllerSubentryFlow``.
"""

from collections.abc import Callable, Mapping
import math
from typing import Any, ClassVar

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlowWithReload,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME
import probatio

# What a controller's form check returns: entry data, options, errors by
# field, and the placeholders of the error texts.
type ControllerForm = tuple[
    dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]
]


def not_numbers(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return an error for each field (or section) holding NaN or infinity.

    Home Assistant's number selector lets them through its range check;
    a controller built from them fails to start.
    """
    errors: dict[str, str] = {}
    for field, value in user_input.items():
        values = value.values() if isinstance(value, Mapping) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            errors[field] = "not_a_number"
    return errors


class ControllerOptionsFlow(OptionsFlowWithReload):
    """Edit a controller's settings; the entry reloads with them."""

    step_id: str
    schema: Callable[[], probatio.Schema]
    validate: Callable[
        [Mapping[str, Any]], tuple[dict[str, Any], dict[str, str], dict[str, str]]
    ]

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the settings; refuse a combination that cannot work."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"error": ""}
        if user_input is not None and not (errors := not_numbers(user_input)):
            options, errors, placeholders = self.validate_input(user_input)
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id=self.step_id,
            data_schema=self.add_suggested_values_to_schema(
                type(self).schema(), user_input or self.config_entry.options
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def validate_input(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Check the form; return options, errors, placeholders."""
        return type(self).validate(user_input)


class ControllerSubentryFlow(ConfigSubentryFlow):
    """Add or edit one part of a controller entry: one form, checked.

    ``validate`` checks the form against the entry (and the part being
    edited, by its subentry id) and returns the part's data with its name,
    errors and placeholders; ``further_problems`` adds what needs Home
    Assistant (an entity's range). The part's ``output_key`` entity must not
    be driven by another controller: the form names the one that does.
    """

    schema: ClassVar[probatio.Schema]
    output_key: ClassVar[str]
    validate: Callable[
        [Mapping[str, Any], Any, str | None],
        tuple[dict[str, Any], dict[str, str], dict[str, str]],
    ]

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a part."""
        return await self._async_form("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Edit a part; the entry starts again with it."""
        return await self._async_form(
            "reconfigure", user_input, self._get_reconfigure_subentry()
        )

    def further_problems(
        self, data: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Return errors and placeholders only Home Assistant can find."""
        return {}, {"error": ""}

    async def _async_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        subentry: ConfigSubentry | None,
    ) -> SubentryFlowResult:
        """Show the part's form; add or change the part once it checks out."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        entry = self._get_entry()
        if user_input is not None:
            data, errors, placeholders = type(self).validate(
                user_input, entry, subentry.subentry_id if subentry else None
            )
            if not errors:
                errors, placeholders = self.further_problems(data)
            if not errors and (claimed := self._claimed(entry, data[self.output_key])):
                errors[self.output_key] = "output_in_use"
                placeholders["error"] = claimed
            if not errors:
                title = data.pop(CONF_NAME)
                if subentry is None:
                    return self.async_create_entry(title=title, data=data)
                return self.async_update_and_abort(
                    entry, subentry, title=title, data=data
                )
        shown = user_input or (
            {CONF_NAME: subentry.title, **subentry.data} if subentry else {}
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(type(self).schema, shown),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _claimed(self, entry: ConfigEntry[Any], entity_id: str) -> str | None:
        """Return which other controller drives ``entity_id``, if any.

        The entry's own parts are checked by ``validate``.
        """
        # kinds.py registers the subentry flows, so it is imported when first needed.
        from ..kinds import async_claimed_output  # noqa: PLC0415

        return async_claimed_output(self.hass, [entity_id], other_than=entry.entry_id)
