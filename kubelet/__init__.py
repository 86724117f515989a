"""The node agent: registration and heartbeat, the LXC runtime, the image cache and the reconcile loop."""
