"""Victron Energy GX devices over Modbus TCP, from Victron's own register table."""

from .gx import VictronGX

__all__ = ["VictronGX"]
