"""/openapi.json: every path and schema of the API, built from the same pydantic models the server validates with."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas import API_VERSION, Kind
from schemas.token import Token

__all__ = ["build_openapi"]

PREFIX = f"/apis/{API_VERSION}"
REF = "#/components/schemas/{model}"
ERRORS = {
    "400": "The request is malformed (bad JSON, selector, parameter or name mismatch).",
    "401": "No bearer token, or not a valid one.",
    "403": "The token's role may not do this.",
    "404": "No such object.",
    "409": "Conflict: the object changed since it was read, already exists, or is already bound.",
    "413": "The body is larger than 1 MiB.",
    "422": "The object breaks the schema or the apiserver's policy; details name each field.",
    "503": "etcd is unavailable; retry.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(ok: str, schema: dict[str, Any], *, errors: tuple[str, ...] = tuple(ERRORS)) -> dict[str, Any]:
    responses: dict[str, Any] = {ok: {"description": "OK", "content": _json(schema)}}
    for code in errors:
        responses[code] = {"description": ERRORS[code], "content": _json(_ref("Status"))}
    return responses


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or {"type": "string"}}


NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": "The object's name."}
DRY_RUN = _query("dryRun", "All: validate and return the would-be object without writing.", {"type": "string", "enum": ["All"]})


BINDING = {
    "type": "object",
    "description": "Set spec.nodeName once. placement (status.placement) explains the choice; resourceVersion makes "
                   "the bind conditional (409 if the container changed); event (an Event about this container, "
                   "as POST .../events takes it) is recorded in the same write.",
    "properties": {
        "nodeName": {"type": "string"},
        "placement": {"type": "object"},
        "resourceVersion": {"type": "string"},
        "event": {"type": "object"},
    },
    "required": ["nodeName"],
    "additionalProperties": False,
}


def _extra_schemas(kinds: tuple[Kind, ...]) -> dict[str, Any]:
    detail = {
        "type": "object",
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
        "required": ["field", "message"],
    }
    schemas: dict[str, Any] = {
        "Status": {
            "type": "object",
            "description": "Every error: a reason word, a message, and the fields at fault.",
            "properties": {
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": _ref("StatusDetail")},
                "code": {"type": "integer"},
            },
            "required": ["reason", "message", "details"],
        },
        "StatusDetail": detail,
        "Binding": BINDING,
        "Unbinding": {
            "type": "object",
            "description": "Clear spec.nodeName of a container expected on nodeName (its node is lost), saying why.",
            "properties": {"nodeName": {"type": "string"}, "reason": {"type": "string"}, "message": {"type": "string"}},
            "required": ["nodeName"],
            "additionalProperties": False,
        },
        "MergePatch": {"type": "object", "description": "An RFC 7386 JSON merge patch.", "additionalProperties": True},
        "Health": {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]},
        "Version": {
            "type": "object",
            "properties": {"version": {"type": "string"}, "apiVersion": {"type": "string"}, "python": {"type": "string"}},
            "required": ["version", "apiVersion"],
        },
        "WatchEvent": {
            "type": "object",
            "description": "One line of a watch stream (application/x-ndjson).",
            "properties": {
                "type": {"type": "string", "enum": ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]},
                "object": {"type": "object"},
            },
            "required": ["type", "object"],
        },
    }
    for kind in kinds:
        schemas[f"{kind.name}List"] = {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "properties": {"resourceVersion": {"type": "string"}}, "required": ["resourceVersion"]},
                "items": {"type": "array", "items": _ref(kind.model.__name__)},
            },
            "required": ["apiVersion", "kind", "metadata", "items"],
        }
    return schemas


def _kind_paths(kind: Kind) -> dict[str, Any]:
    model = kind.model.__name__
    obj = _ref(model)
    base = f"{PREFIX}/{kind.plural}"
    tags = [kind.name]
    not_found = tuple(c for c in ERRORS if c not in ("409", "413", "422"))
    paths: dict[str, Any] = {
        base: {
            "get": {
                "operationId": f"list_{kind.plural}",
                "tags": tags,
                "summary": f"List {kind.plural}, or watch them with watch=1.",
                "parameters": [
                    _query("labelSelector", "e.g. app=web,tier!=db,env in (a,b),!legacy"),
                    _query("fieldSelector", "metadata.name, spec.nodeName, status.phase (= or !=)"),
                    _query("watch", "1 or true: stream changes as NDJSON WatchEvents.", {"type": "string", "enum": ["1", "true"]}),
                    _query("resourceVersion", "With watch: stream every change after this revision."),
                    _query("timeoutSeconds", "With watch: end the stream cleanly after this many seconds.",
                           {"type": "number", "exclusiveMinimum": 0, "maximum": 86400}),
                ],
                "responses": {
                    "200": {
                        "description": "The list, or a watch stream.",
                        "content": {
                            "application/json": {"schema": _ref(f"{kind.name}List")},
                            "application/x-ndjson": {"schema": _ref("WatchEvent")},
                        },
                    },
                    **{c: v for c, v in _responses("200", obj, errors=("400", "401", "403", "503")).items() if c != "200"},
                },
            },
            "post": {
                "operationId": f"create_{kind.name.lower()}",
                "tags": tags,
                "summary": f"Create a {kind.name}.",
                "parameters": [DRY_RUN],
                "requestBody": {"required": True, "content": _json(obj)},
                "responses": _responses("201", obj, errors=tuple(c for c in ERRORS if c != "404")),
            },
        },
        base + "/{name}": {
            "parameters": [NAME],
            "get": {"operationId": f"get_{kind.name.lower()}", "tags": tags, "responses": _responses("200", obj, errors=not_found)},
            "put": {
                "operationId": f"replace_{kind.name.lower()}",
                "tags": tags,
                "summary": "Replace spec and metadata; metadata.resourceVersion is required and a stale one is 409.",
                "parameters": [DRY_RUN],
                "requestBody": {"required": True, "content": _json(obj)},
                "responses": _responses("200", obj),
            },
            "patch": {
                "operationId": f"patch_{kind.name.lower()}",
                "tags": tags,
                "summary": "Merge-patch spec and metadata (status is ignored: use /status).",
                "parameters": [DRY_RUN],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/merge-patch+json": {"schema": _ref("MergePatch")},
                        "application/json": {"schema": _ref("MergePatch")},
                    },
                },
                "responses": _responses("200", obj),
            },
            "delete": {
                "operationId": f"delete_{kind.name.lower()}",
                "tags": tags,
                "summary": "Delete; with finalizers only set deletionTimestamp.",
                "parameters": [DRY_RUN],
                "responses": _responses("200", obj, errors=tuple(c for c in ERRORS if c not in ("413", "422"))),
            },
        },
        base + "/{name}/status": {
            "parameters": [NAME],
            "get": {"operationId": f"get_{kind.name.lower()}_status", "tags": tags, "responses": _responses("200", obj, errors=not_found)},
            "put": {
                "operationId": f"replace_{kind.name.lower()}_status",
                "tags": tags,
                "summary": "Replace status only.",
                "parameters": [DRY_RUN],
                "requestBody": {"required": True, "content": _json(obj)},
                "responses": _responses("200", obj),
            },
            "patch": {
                "operationId": f"patch_{kind.name.lower()}_status",
                "tags": tags,
                "summary": "Merge-patch status only.",
                "parameters": [DRY_RUN],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/merge-patch+json": {"schema": _ref("MergePatch")},
                        "application/json": {"schema": _ref("MergePatch")},
                    },
                },
                "responses": _responses("200", obj),
            },
        },
    }
    if kind.name == "Container":
        paths[base + "/{name}/binding"] = {
            "parameters": [NAME],
            "post": {
                "operationId": "bind_container",
                "tags": tags,
                "summary": "Bind to a node, once: a second bind is 409.",
                "parameters": [DRY_RUN],
                "requestBody": {"required": True, "content": _json(_ref("Binding"))},
                "responses": _responses("201", obj),
            },
            "delete": {
                "operationId": "unbind_container",
                "tags": tags,
                "summary": "Unbind from the node it is expected on (admin: the node lifecycle controller); 409 if bound elsewhere.",
                "parameters": [DRY_RUN],
                "requestBody": {"required": True, "content": _json(_ref("Unbinding"))},
                "responses": _responses("200", obj),
            },
        }
        # exec and attach are WebSockets (v5.channel.k8s.io), which OpenAPI cannot describe;
        # see docs/architecture.md (Streams). The log is a plain streamed GET.
        paths[base + "/{name}/log"] = {
            "parameters": [NAME],
            "get": {
                "operationId": "log_container",
                "tags": tags,
                "summary": "The container's console output, from its kubelet (admin or viewer).",
                "parameters": [
                    _query("follow", "1: keep streaming new output until the container is deleted."),
                    _query("tail", "Only the last N lines."),
                    _query("since", "Only files written within this many seconds."),
                    _query("previous", "1: the run before the last (re)start."),
                ],
                "responses": {
                    "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    **{code: {"description": ERRORS.get(code, "The container is not on a node yet"), "content": _json(_ref("Status"))}
                       for code in ("400", "401", "403", "404", "409", "503")},
                },
            },
        }
    if kind.name == "Backup":
        # The archive itself: streamed from, or to, the kubelet of the node status.node names (admin).
        binary = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        errors = {code: {"description": ERRORS.get(code, "The backup names no node, or its archive exists already"),
                         "content": _json(_ref("Status"))} for code in ("400", "401", "403", "404", "409", "422", "503")}
        paths[base + "/{name}/archive"] = {
            "parameters": [NAME],
            "get": {"operationId": "read_backup_archive", "tags": tags,
                    "summary": "The backup's archive (zstd tar), from the kubelet that holds it (`dlxc export`; a node's "
                               "restore, move or failover with `for`).",
                    "parameters": [{"name": "for", "in": "query", "required": False, "schema": {"type": "string"},
                                    "description": "A node token may read the archive when the container named here is "
                                                   "bound to that node and is restored from this backup."}],
                    "responses": {"200": {"description": "OK", "content": binary}, **errors}},
            "put": {"operationId": "write_backup_archive", "tags": tags,
                    "summary": "Send an archive to the kubelet of the node status.node names; it is checked whole before it is kept "
                               "(`dlxc import`).",
                    "requestBody": {"required": True, "content": binary},
                    "responses": {"200": {"description": "What the kubelet kept: checksum, size, location, spec, index.",
                                          "content": _json({"type": "object"})}, **errors}},
        }
    return paths


def _token_paths() -> dict[str, Any]:
    """Tokens are not a watchable kind: create (the answer holds the secret, once), list, get, revoke."""
    obj = _ref("Token")
    base = f"{PREFIX}/tokens"
    tags = ["Token"]
    listing = {"type": "object", "properties": {"kind": {"const": "TokenList"}, "items": {"type": "array", "items": obj}}}
    return {
        base: {
            "get": {"operationId": "list_tokens", "tags": tags, "summary": "List tokens (never their secrets); admin only.",
                    "responses": _responses("200", listing, errors=("401", "403", "503"))},
            "post": {"operationId": "create_token", "tags": tags,
                     "summary": "Create a token; status.token in the answer is the secret, shown this once.",
                     "parameters": [DRY_RUN], "requestBody": {"required": True, "content": _json(obj)},
                     "responses": _responses("201", obj, errors=tuple(c for c in ERRORS if c != "404"))},
        },
        base + "/{name}": {
            "parameters": [NAME],
            "get": {"operationId": "get_token", "tags": tags,
                    "responses": _responses("200", obj, errors=("401", "403", "404", "503"))},
            "delete": {"operationId": "revoke_token", "tags": tags, "summary": "Revoke: the token stops working at once.",
                       "parameters": [DRY_RUN],
                       "responses": _responses("200", obj, errors=tuple(c for c in ERRORS if c not in ("413", "422")))},
        },
    }


def _join_paths() -> dict[str, Any]:
    """Joining a host: the public CA certificate, and a join token traded for a node's own token."""
    request = {"type": "object", "properties": {"nodeName": {"type": "string"}}, "required": ["nodeName"]}
    result = {
        "type": "object",
        "properties": {"apiVersion": {"type": "string"}, "kind": {"const": "JoinResult"}, "nodeName": {"type": "string"}, "token": {"type": "string"},
                       "apiservers": {"type": "array", "items": {"type": "string"}, "description": "Every live apiserver's advertised URL."}},
        "required": ["apiVersion", "kind", "nodeName", "token"],
    }
    member = {"type": "object", "properties": {"name": {"type": "string"}, "id": {"type": "string"},
                                               "peerURLs": {"type": "array", "items": {"type": "string"}}}}
    return {
        f"{PREFIX}/joins": {
            "post": {"operationId": "join", "tags": ["Token"],
                     "summary": "Trade a join token (the bearer) for the new node's own node:NAME token; counts one use.",
                     "requestBody": {"required": True, "content": _json(request)},
                     "responses": _responses("201", result, errors=("400", "401", "409", "413", "422", "503"))},
        },
        f"{PREFIX}/nodecertificates": {
            "post": {"operationId": "sign_node_certificate", "tags": ["Token"],
                     "summary": "Sign a kubelet serving certificate from a CSR for nodeName only (a node:NAME token: NAME only).",
                     "requestBody": {"required": True, "content": _json({
                         "type": "object", "properties": {"nodeName": {"type": "string"}, "csr": {"type": "string"}},
                         "required": ["nodeName", "csr"]})},
                     "responses": _responses("201", {"type": "object"}, errors=("400", "401", "403", "413", "422", "503"))},
        },
        f"{PREFIX}/etcdmembers": {
            "get": {"operationId": "list_etcd_members", "tags": ["Token"], "summary": "The control plane's etcd members (admin).",
                    "responses": _responses("200", {"type": "object", "properties": {"items": {"type": "array", "items": member}}},
                                            errors=("401", "403", "503"))},
        },
        f"{PREFIX}/etcdmembers/{{name}}": {
            "parameters": [NAME],
            "delete": {"operationId": "remove_etcd_member", "tags": ["Token"],
                       "summary": "Remove a control-plane host's etcd member (admin); 409 when etcd would lose quorum.",
                       "responses": _responses("200", member, errors=("401", "403", "404", "409", "503"))},
        },
        "/apiservers": {
            "get": {"operationId": "apiservers", "tags": ["health"],
                    "summary": "Every live apiserver's advertised URL (each kept while its apiserver's etcd session lives), for clients to fail over to.",
                    "responses": _responses("200", {"type": "object", "properties": {
                        "apiVersion": {"type": "string"}, "kind": {"const": "ApiServerList"},
                        "servers": {"type": "array", "items": {"type": "string"}}}, "required": ["servers"]}, errors=("401", "503"))},
        },
        "/cacert": {
            "get": {"operationId": "cacert", "tags": ["health"], "security": [],
                    "summary": "The cluster's CA certificate (PEM), public: `dlxc join` checks its hash before sending a secret.",
                    "responses": {"200": {"description": "OK", "content": {"application/x-pem-file": {"schema": {"type": "string"}}}},
                                  "404": {"description": "The apiserver serves no CA (no --ca-file).", "content": _json(_ref("Status"))}}},
        },
    }



def _batch(item: dict[str, Any], answer: dict[str, Any], result_kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A batch route's request (1 to 100 `item`s) and its result (one `answer` per item, in order)."""
    request = {"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                                "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": item}},
               "required": ["items"], "additionalProperties": False}
    result = {"type": "object", "properties": {"apiVersion": {"type": "string"}, "kind": {"const": result_kind},
                                               "items": {"type": "array", "items": answer}},
              "required": ["apiVersion", "kind", "items"]}
    return request, result


def _event_batch_paths() -> dict[str, Any]:
    """Several Events in one request (dlxc.client.events batches what queues up)."""
    answer = {"type": "object", "description": "201 and the Event, or an error as in Status.",
              "properties": {"code": {"type": "integer"}, "object": _ref("Event"), "reason": {"type": "string"},
                             "message": {"type": "string"}, "details": {"type": "array"}},
              "required": ["code"]}
    request, result = _batch(_ref("Event"), answer, "EventBatchResult")
    return {
        f"{PREFIX}/eventbatches": {
            "post": {"operationId": "create_event_batch", "tags": ["Event"],
                     "summary": "Create up to 100 Events, each as POST .../events would (the same event again raises its count); one answer per item, in order.",
                     "requestBody": {"required": True, "content": _json(request)},
                     "responses": _responses("200", result, errors=("400", "401", "403", "413", "503"))},
        },
    }


def _binding_batch_paths() -> dict[str, Any]:
    """Several binds in one request (the scheduler sends what it decided while its last requests were in flight)."""
    item = {**BINDING, "description": "A Binding of the container `name`.",
            "properties": {"name": {"type": "string"}, **BINDING["properties"]}, "required": ["name", "nodeName"]}
    answer = {"type": "object", "description": "201 and the container's new resourceVersion, or an error as in Status.",
              "properties": {"name": {"type": ["string", "null"]}, "code": {"type": "integer"}, "resourceVersion": {"type": "string"},
                             "reason": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array"}},
              "required": ["code"]}
    request, result = _batch(item, answer, "BindingBatchResult")
    return {
        f"{PREFIX}/bindingbatches": {
            "post": {"operationId": "bind_container_batch", "tags": ["Container"],
                     "summary": "Bind up to 100 containers, each exactly as POST .../containers/{name}/binding would (authorized, "
                                "conditioned and written on its own); one answer per item, in order.",
                     "parameters": [DRY_RUN],
                     "requestBody": {"required": True, "content": _json(request)},
                     "responses": _responses("200", result, errors=("400", "401", "413", "503"))},
        },
    }


def _renewal_paths() -> dict[str, Any]:
    """A node's heartbeat stream (apiserver.renewals): NDJSON merge patches or `+` in, one answer line each."""
    line = {"type": "object", "description": "One Lease merge patch per line (spec.renewTime, ...), or the line `+` "
                                             "(version 2, when the answer says X-Dlxc-Renewals: 2): the stream's last JSON "
                                             "renewal again, renewTime stamped by the apiserver."}
    answer = {"type": "object", "properties": {"code": {"type": "integer"}, "resourceVersion": {"type": "string"}}}
    return {
        f"{PREFIX}/leases/{{name}}/renewals": {
            "parameters": [NAME],
            "post": {"operationId": "renew_lease_stream", "tags": ["Lease"],
                     "summary": "Renew a Lease on one long request: each NDJSON line is answered in order; "
                                "a node's own Lease is renewed from memory, other lines are written as a PATCH.",
                     "requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": line}}},
                     "responses": {"101": {"description": "Version 3, asked for with `Connection: Upgrade` and `Upgrade: dlxc-renewals/3` "
                                                          "on a request without a body: the same lines both ways on the bare connection."},
                                   "200": {"description": "One answer line per renewal, in order.",
                                           "headers": {"X-Dlxc-Renewals": {"description": "2: `+` lines are understood.",
                                                                           "schema": {"type": "string"}}},
                                           "content": {"application/x-ndjson": {"schema": answer}}},
                                   **{c: v for c, v in _responses("200", answer, errors=("401", "403", "404")).items() if c != "200"}}},
        },
    }


def _terminal_paths() -> dict[str, Any]:
    """The browser terminal (apiserver.terminal): an admin makes a one-time link; the page trades it for a
    session, whose WebSocket (`/terminal/stream`, v5.channel.k8s.io) OpenAPI cannot describe."""
    gone = {"description": "The link was already used, or expired.", "content": _json(_ref("Status"))}
    link = {
        "type": "object",
        "properties": {"url": {"type": "string"}, "container": {"type": "string"}, "expiresAt": {"type": "string"}},
        "required": ["url", "container", "expiresAt"],
    }
    request = {
        "type": "object",
        "properties": {
            "ttlSeconds": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 600},
            "user": {"type": "string", "description": "User name or uid of the shell (default root)."},
        },
        "additionalProperties": False,
    }
    session = {
        "type": "object",
        "properties": {"session": {"type": "string"}, "container": {"type": "string"},
                       "user": {"type": ["string", "null"]}, "expiresAt": {"type": "string"}},
        "required": ["session", "container", "expiresAt"],
    }
    page = {"200": {"description": "The terminal page", "content": {"text/html": {"schema": {"type": "string"}}}}}
    return {
        f"{PREFIX}/containers/{{name}}/terminal": {
            "parameters": [NAME],
            "post": {
                "operationId": "terminal_container", "tags": ["Container"],
                "summary": "A one-time URL of a browser terminal (a login shell) in the running container; admin only.",
                "requestBody": {"required": False, "content": _json(request)},
                "responses": _responses("201", link, errors=("400", "401", "403", "404", "409", "413", "503")),
            },
        },
        "/terminal": {"get": {"operationId": "terminal_redirect", "tags": ["terminal"], "security": [],
                              "responses": {"308": {"description": "To /terminal/"}}}},
        "/terminal/": {"get": {"operationId": "terminal_page", "tags": ["terminal"], "security": [],
                               "summary": "The terminal page; the link's token is in the URL's fragment.", "responses": page}},
        "/terminal/session": {
            "post": {
                "operationId": "terminal_session", "tags": ["terminal"], "security": [],
                "summary": "Trade a link's token for a session secret (the link is spent); the page does this.",
                "requestBody": {"required": True, "content": _json(
                    {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]}
                )},
                "responses": {**_responses("201", session, errors=("400", "404", "413", "503")), "410": gone},
            },
        },
    }


def _usage_paths() -> dict[str, Any]:
    """Usage from the kubelets' memory (apiserver.usage): never stored in etcd, answered through the
    apiserver -> kubelet path of exec and logs, each kubelet answer kept a few seconds."""
    sample = {"type": "object", "additionalProperties": {"type": "number"},
              "description": "Flat dotted keys: cpu.cores, cpu.seconds, memory.bytes, net.IFACE.rx_bytes, rootfs.bytes, ..."}
    stamp = {"type": ["string", "null"], "description": "When the kubelet took the sample."}
    entry = {"type": "object", "properties": {"name": {"type": "string"}, "node": {"type": "string"}, "time": stamp, "usage": sample},
             "required": ["name", "time", "usage"]}
    history = {"type": "object", "description": "The last hour at the sampler's interval, as columns: unix seconds, cores, bytes.",
               "properties": {k: {"type": "array", "items": {"type": ["number", "null"]}} for k in ("time", "cpu", "memory")}}
    container = {"type": "object", "properties": {"name": {"type": "string"}, "node": {"type": "string"}, "interval": {"type": "number"},
                                                  "time": stamp, "usage": sample, "history": history},
                 "required": ["name", "node", "time", "usage", "history"]}
    node = {"type": "object", "properties": {"node": {"type": "string"}, "interval": {"type": "number"}, "time": stamp, "usage": sample,
                                             "containers": {"type": "object", "additionalProperties": {"type": "object"}}},
            "required": ["node", "usage", "containers"]}
    listing = {"type": "object", "properties": {
        "items": {"type": "array", "items": entry},
        "unreachable": {"type": "object", "additionalProperties": {"type": "string"}, "description": "node -> why it gave no usage"}},
        "required": ["items", "unreachable"]}
    errors = ("401", "403", "404", "409", "503")

    def get(operation: str, tag: str, summary: str, schema: dict[str, Any], codes: tuple[str, ...] = errors) -> dict[str, Any]:
        responses = _responses("200", schema, errors=tuple(c for c in codes if c != "409"))
        if "409" in codes:
            responses["409"] = {"description": "The container is not Running on a node.", "content": _json(_ref("Status"))}
        return {"get": {"operationId": operation, "tags": [tag], "summary": summary, "responses": responses}}

    return {
        f"{PREFIX}/containers/{{name}}/metrics": {"parameters": [NAME], **get(
            "metrics_container", "Container", "The running container's latest usage and its last hour, from its kubelet (get).", container)},
        f"{PREFIX}/nodes/{{name}}/metrics": {"parameters": [NAME], **get(
            "metrics_node", "Node", "The node's usage and the latest sample of each container bound to it, from its kubelet (get).", node,
            ("401", "403", "404", "503"))},
        f"{PREFIX}/metrics/containers": get(
            "metrics_containers", "Container", "The latest usage of every running container, from every Ready node (list).", listing,
            ("401", "403", "503")),
        f"{PREFIX}/metrics/nodes": get(
            "metrics_nodes", "Node", "The usage of every Ready node that serves streams (list).", listing, ("401", "403", "503")),
    }


@lru_cache(maxsize=4)
def build_openapi(kinds: tuple[Kind, ...]) -> dict[str, Any]:
    models = [(k.model, "validation") for k in kinds] + [(Token, "validation")]
    _, top = models_json_schema(models, ref_template=REF, by_alias=True)
    components = {**top.get("$defs", {}), **_extra_schemas(kinds)}
    health = {"get": {"tags": ["health"], "security": [], "responses": {"200": {"description": "OK", "content": _json(_ref("Health"))}, "503": {"description": ERRORS["503"], "content": _json(_ref("Status"))}}}}
    paths: dict[str, Any] = {
        "/healthz": {"get": {**health["get"], "operationId": "healthz"}},
        "/readyz": {"get": {**health["get"], "operationId": "readyz"}},
        "/version": {
            "get": {
                "operationId": "version",
                "tags": ["health"],
                "summary": "The server's release and the API version it serves.",
                "responses": {"200": {"description": "OK", "content": _json(_ref("Version"))}},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["health"],
                "summary": "This document.",
                "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
            }
        },
    }
    for kind in kinds:
        paths.update(_kind_paths(kind))
    paths.update(_token_paths())
    paths.update(_join_paths())
    paths.update(_terminal_paths())
    paths.update(_renewal_paths())
    paths.update(_event_batch_paths())
    paths.update(_binding_batch_paths())
    paths.update(_usage_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "dlxc apiserver", "version": "v1", "description": "Declarative LXC containers: the only door to etcd."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
