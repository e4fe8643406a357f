"""console-tui: the serial consoles of VMs and servers in one keyboard-driven terminal app."""

__version__ = "0.1.0"
