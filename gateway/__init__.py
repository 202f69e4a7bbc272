"""checkpoint-gateway: scan, verify, decide, record durably, sync."""

__version__ = "0.1.0"
