"""snapconf: conformance harness for snapshot-capable CSI drivers."""

__version__ = "0.1.0"
