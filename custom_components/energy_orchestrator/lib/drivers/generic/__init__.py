"""A Modbus device nobody supports yet, described by its user in JSON.

``register_map`` checks a user's map and names every error in it;
``driver`` reads the device by the map, with the same read planning as
every other Modbus driver.
"""

from .driver import GenericModbus
from .register_map import RegisterMapError, load_register_map, parse_register_map

__all__ = [
    "GenericModbus",
    "RegisterMapError",
    "load_register_map",
    "parse_register_map",
]
