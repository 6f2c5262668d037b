"""What the controllers' config and options flows share.

A controller's form is checked by a function of its own package; the
checked form comes back as a ``ControllerForm``. Its settings are edited by
an options flow built on ``ControllerOptionsFlow``.
"""

from collections.abc import Callable, Mapping
import math
from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlowWithReload
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
