"""The HTTP API: the only door to etcd."""
