"""The HA-free library: device drivers and control, fenced from Home Assistant.

Nothing under this package imports Home Assistant (a test proves it): the
`eo` lab and remote nodes run it without Home Assistant installed.
"""
