"""Domain values, decisions and ports. Standard library only: no I/O, no clock."""
