"""dlxc: the command, the API client every component uses, and the local all-in-one cluster."""
from __future__ import annotations

__version__ = "0.1.0"
