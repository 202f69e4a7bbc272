"""Hardware and simulated sources that turn scanners and thermal cameras into plain values."""
