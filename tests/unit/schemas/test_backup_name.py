"""Backup names: NAME-YYYYMMDD-HHMMSS, a DNS-1123 label however long the container's name, one per container."""
from __future__ import annotations

from datetime import datetime, timezone

from schemas.backup import backup_name
from schemas.base import DNS_LABEL

WHEN = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)


def test_a_name_that_fits_is_kept_whole() -> None:
    assert backup_name("web", WHEN) == "web-20261130-030000"
    assert backup_name("a" * 47, WHEN) == "a" * 47 + "-20261130-030000"


def test_long_names_alike_at_the_start_get_names_of_their_own() -> None:
    """Cut alone, both were web-...-20261130-030000: the schedule made one backup and took it for both."""
    first, second = "a-very-long-container-name-for-the-reporting-service-one", "a-very-long-container-name-for-the-reporting-service-two"
    names = {backup_name(first, WHEN), backup_name(second, WHEN)}
    assert len(names) == 2
    for name in names:
        assert len(name) <= 63 and DNS_LABEL.match(name), name
        assert name.startswith("a-very-long-container-name-for-the-re") and name.endswith("-20261130-030000")
    assert backup_name(first, WHEN) == backup_name(first, WHEN)  # stable: a pass made again finds its own


def test_a_cut_never_ends_in_a_dash() -> None:
    name = backup_name("x" * 39 + "-" + "y" * 30, WHEN)
    assert "--" not in name and DNS_LABEL.match(name), name
