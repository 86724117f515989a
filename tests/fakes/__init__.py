"""In-memory fakes at the kubelet's boundaries, for unit tests of its reconcile logic only (never in e2e)."""
