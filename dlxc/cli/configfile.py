"""`--config FILE` of a component: every flag of the command settable in YAML, flags (and their env) winning.

The file's keys are the command's flag names without the dashes (`node-name: h1`, `fence-timeout: 6s`,
`lxcfs: false`); a file may also hold one section per component (`apiserver:`, `controller:`,
`kubelet:`), so one /etc/dlxc/server.yaml serves every control-plane component and each reads its
own. Values are checked by the flag's own type and parser, at start, and a bad file is refused
naming the file, the line and the key. The values become the command's default_map, which is why
a flag given on the command line (or through its environment variable) overrides the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["COMPONENTS", "ConfigFileError", "config_option", "read_config"]

COMPONENTS = ("apiserver", "scheduler", "controller", "kubelet")


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message names file, line and key."""


def _flag(param: Any) -> str | None:
    return next((opt[2:] for opt in param.opts if opt.startswith("--")), None)


def read_config(path: Path, command: Any, ctx: Any, *, section: str) -> dict[str, Any]:
    """FILE's values for `command` (a click command), by parameter name, each checked by its flag's type."""
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigFileError(f"{path}{where}: not YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigFileError(f"{path}, line {root.start_mark.line + 1}: must be a mapping of flag names to values")
    pairs = [(k.value, v) for k, v in root.value]
    if any(key in COMPONENTS for key, _ in pairs):
        # A sectioned file: only this component's part is ours (and only sections are allowed).
        for key, node in pairs:
            if key not in COMPONENTS:
                line = next(k.start_mark.line + 1 for k, _ in root.value if k.value == key)
                raise ConfigFileError(f"{path}, line {line}, key {key!r}: a file with component sections holds only {', '.join(COMPONENTS)}")
        node = next((v for k, v in pairs if k == section), None)
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise ConfigFileError(f"{path}, line {node.start_mark.line + 1}, key {section!r}: must be a mapping of flag names to values")
        items = node.value
    else:
        items = root.value
    by_flag = {_flag(p): p for p in command.params if _flag(p) and _flag(p) != "config" and p.expose_value}
    values: dict[str, Any] = {}
    for key_node, value_node in items:
        key, line = key_node.value, key_node.start_mark.line + 1
        param = by_flag.get(str(key))
        if param is None:
            raise ConfigFileError(f"{path}, line {line}, key {key!r}: not a flag of `dlxc {section}`; known: {', '.join(sorted(by_flag))}")
        value = yaml.safe_load(yaml.serialize(value_node))
        # Read as the command line would be: text, parsed by the flag's own type (a bool stays a bool).
        if isinstance(value, list):
            value = [str(v) for v in value] if param.multiple else ",".join(str(v) for v in value)
        elif value is not None and not isinstance(value, bool):
            value = str(value)
        try:
            _check(param, ctx, value)
        except Exception as exc:  # click's BadParameter, or a parser's ValueError
            message = getattr(exc, "message", None) or str(exc)
            raise ConfigFileError(f"{path}, line {line}, key {key!r}: {message}") from None
        values[param.name] = value
    return values


def _check(param: Any, ctx: Any, value: Any) -> None:
    """Convert as the flag would (typer 0.2x coerces through its runtime param, click through its type)."""
    if value is None or (isinstance(value, bool) and getattr(getattr(param, "type_descriptor", None), "annotation", None) is bool):
        return
    runtime = getattr(param, "get_runtime_param", None)
    if runtime is not None:
        runtime().coerce(value, param=param, ctx=ctx)
    else:
        param.type_cast_value(ctx, value)


def _apply(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    if value is None:
        return None
    section = ctx.info_name or ""
    try:
        values = read_config(value, ctx.command, ctx, section=section)
    except ConfigFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


def config_option(envvar: str, default: str) -> Any:
    return typer.Option(
        None, "--config", envvar=envvar, is_eager=True, callback=_apply, exists=False,
        help=f"YAML file setting any of these flags (keys are the flag names, e.g. node-name); flags override it. Usually {default}.",
    )
