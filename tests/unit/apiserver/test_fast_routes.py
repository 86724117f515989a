"""The apiserver's short way in: exactly the plain object routes, each to the handler FastAPI would run."""
from __future__ import annotations

import pytest

from apiserver.app import ApiServerSettings, _fast_match, create_app

APP = create_app(ApiServerSettings())
BASE = "/apis/dlxc.io/v1"


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "params"),
    [
        ("GET", f"{BASE}/containers", "list_objects", {}),
        ("POST", f"{BASE}/containers", "create_object", {}),
        ("GET", f"{BASE}/containers/web", "get_object", {"name": "web"}),
        ("PUT", f"{BASE}/nodes/n1/status", "replace_status", {"name": "n1"}),
        ("POST", f"{BASE}/containers/web/binding", "bind", {"name": "web"}),
        ("POST", f"{BASE}/events", "create_object", {}),
        ("POST", f"{BASE}/bindingbatches", "bind_batch", {}),
        # The long way: not a plain object route, or no such method there (FastAPI answers 404/405).
        ("POST", f"{BASE}/leases/n1/renewals", None, None),
        ("GET", f"{BASE}/containers/web/log", None, None),
        ("POST", f"{BASE}/eventbatches", None, None),
        ("GET", f"{BASE}/tokens", None, None),
        ("HEAD", f"{BASE}/containers", None, None),
        ("POST", f"{BASE}/nodes/n1/binding", None, None),
        ("GET", f"{BASE}/containers//status", None, None),
        ("GET", f"{BASE}/containers/a/b/c", None, None),
        ("GET", "/ui/containers", None, None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_fast_match(method: str, path: str, endpoint: str | None, params: dict[str, str] | None) -> None:
    scope = {"type": "http", "method": method, "path": path}
    found = _fast_match(APP.fast_routes, scope)
    assert (found.__name__ if found else None) == endpoint
    assert scope.get("path_params") == params


def test_every_plain_object_route_has_a_short_way() -> None:
    plain = [r for r in APP.router.routes if getattr(r, "fast", False)]
    assert len(APP.fast_routes) == sum(len(r.methods) for r in plain) > 60


def test_a_renewal_stream_takes_the_short_way_as_an_asgi_app() -> None:
    """A node's renewal stream skips FastAPI's middleware stack too: every line of it is hot."""
    from apiserver.renewals import RenewalStream

    scope = {"type": "http", "method": "POST", "path": f"{BASE}/leases/n1/renewals"}
    assert isinstance(_fast_match(APP.stream_routes, scope), RenewalStream)
    assert scope["path_params"] == {"name": "n1"}
    assert _fast_match(APP.stream_routes, {"type": "http", "method": "GET", "path": f"{BASE}/leases/n1/renewals"}) is None
    assert list(APP.stream_routes) == [("POST", "leases", "{name}/renewals")]
