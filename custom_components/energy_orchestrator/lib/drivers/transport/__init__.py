"""Transports: how bytes reach a device (Modbus over TCP or serial, and later raw serial)."""
