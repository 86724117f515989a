from __future__ import annotations

import pytest

from dlxc.cli import console


def test_format_table_aligns_columns_three_spaces_apart() -> None:
    assert console.format_table(["NAME", "PHASE"], [["web", "Running"], ["database", "-"]], indent="  ") == [
        "  NAME       PHASE",
        "  web        Running",
        "  database   -",
    ]


def test_live_table_streams_rows_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    with console.LiveTable(["NAME", "PHASE"]) as live:
        live.start([["web", "Pending"]])
        live.update(["web", "Running"], key="web")
        live.update(None, key="web")
        live.update(["database", "Pending"], key="database")
    assert capsys.readouterr().out == "NAME   PHASE\nweb    Pending\nweb    Running\ndatabase   Pending\n"


def test_progress_prints_each_change_once_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    with console.progress("waiting") as bar:
        for state in ("Pending", "Pending", "Running"):
            bar.update(state)
    assert capsys.readouterr().out == "Pending\nRunning\n"
