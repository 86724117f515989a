"""When the kubelet renews its serving certificate: past 2/3 of its lifetime (dlxc.client.certs.Lifetime)."""
from __future__ import annotations

import datetime as dt

import pytest

from dlxc.client.certs import Lifetime

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS_825 = Lifetime(T0, T0 + dt.timedelta(days=825))


@pytest.mark.parametrize(("life", "now", "due"), [
    (DAYS_825, T0 + dt.timedelta(days=1), False),
    (DAYS_825, T0 + dt.timedelta(days=549), False),  # 2/3 of 825 days is day 550
    (DAYS_825, T0 + dt.timedelta(days=550), True),
    (DAYS_825, T0 + dt.timedelta(days=700), True),
    (DAYS_825, T0 + dt.timedelta(days=900), True),  # expired: renewed all the same
    (DAYS_825, T0 - dt.timedelta(minutes=1), True),  # not valid yet: the clock moved back
    (Lifetime(T0, T0 + dt.timedelta(seconds=90)), T0 + dt.timedelta(seconds=59), False),
    (Lifetime(T0, T0 + dt.timedelta(seconds=90)), T0 + dt.timedelta(seconds=60), True),
], ids=["fresh", "day-549", "day-550", "day-700", "expired", "before-valid", "short-before", "short-at-two-thirds"])
def test_due_past_two_thirds(life: Lifetime, now: dt.datetime, due: bool) -> None:
    assert life.due(now) is due


def test_renew_at_and_left() -> None:
    assert DAYS_825.renew_at == T0 + dt.timedelta(days=550)
    assert DAYS_825.left(T0 + dt.timedelta(days=800)) == dt.timedelta(days=25)
