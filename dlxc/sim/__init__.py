"""Scale tooling: simulated (hollow) nodes that run no LXC, for benchmarks and load."""
