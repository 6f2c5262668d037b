"""The site entry's form: only its name; there is one site."""

from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import TextSelector
import probatio

STEP_SITE = probatio.Schema(
    {probatio.Required(CONF_NAME, default="Site"): TextSelector()}
)
