"""`import dlxc.cli.main` and `dlxc --help` load no heavy package: each verb imports its own (issue 11)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "cryptography", "aiohttp", "pygments", "httpx", "apiserver", "scheduler", "kubelet", "controller")


def loaded_after(code: str, *, env: dict[str, str] | None = None) -> set[str]:
    """The modules (and their top-level packages) in sys.modules after running `code` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({*sys.modules, *(m.split('.')[0] for m in sys.modules)})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_command_loads_no_heavy_package() -> None:
    assert loaded_after("import dlxc.cli.main") & set(HEAVY) == set()


def test_help_of_the_command_loads_no_heavy_package_nor_rich_nor_pydantic() -> None:
    code = "from dlxc.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code) & {*HEAVY, "rich", "pydantic"} == set()


@pytest.mark.parametrize(
    ("argv", "absent"),
    [
        (["get", "containers"], {*HEAVY, "pydantic", "rich"}),
        (["apply", "-f", "/nonexistent.yaml"], set(HEAVY)),
        (["version", "--client"], {*HEAVY, "pydantic", "rich"}),
        (["describe", "container", "web"], {*HEAVY, "pydantic", "rich"}),
    ],
    ids=["get", "apply", "version", "describe"],
)
def test_a_one_shot_verb_loads_only_what_it_needs(argv: list[str], absent: set[str], tmp_path: Path) -> None:
    # The server is unreachable: the verb fails after it has imported everything it would use.
    config = tmp_path / "config.yaml"
    config.write_text("server: http://127.0.0.1:9\ntoken: x\n")
    code = f"from dlxc.cli.main import app\ntry:\n    app({argv!r})\nexcept SystemExit:\n    pass"
    loaded = loaded_after(code, env={"DLXC_CONFIG": str(config)})
    assert "dlxc.client.oneshot" in loaded or argv[0] != "get", "the verb did not get as far as the request"
    assert loaded & absent == set()


def test_every_verb_in_the_table_loads_and_has_the_tables_name() -> None:
    from dlxc.cli.main import VERBS, load_verb

    for name in VERBS:
        assert load_verb(name).name == name, name
