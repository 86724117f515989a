"""The dlxc command: one verb per module."""
