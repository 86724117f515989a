"""A bad duration on the commands that move or export containers is a usage error (exit 2) before anything
is asked of the API, not a ValueError traceback."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dlxc.cli.main import app


@pytest.mark.parametrize("argv", [
    ["export", "web", "-o", "web.tar.zst", "--timeout", "5parsecs"],
    ["move", "web", "--to", "n2", "--timeout", "5parsecs"],
    ["drain", "n1", "--deadline", "5parsecs"],
], ids=["export", "move", "drain"])
def test_a_bad_duration_is_a_usage_error(argv: list[str], tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLXC_SERVER", "https://127.0.0.1:1")  # nothing listens: a request would fail otherwise
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "5parsecs" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "web.tar.zst").exists()
