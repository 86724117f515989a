"""The web dashboard: server-rendered pages under /ui/, kept live from the apiserver's watch cache."""
