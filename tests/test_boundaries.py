"""Boundaries the method turns on: exactly 18 and exactly 25 on `as_of` (safeguarding), and a
dismantling target `fraction * n` that is an integer on paper but not in floating point."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st
from test_safeguard import Crime, World, build_world, flags

from hiddennet import safeguard
from hiddennet.dismantle.graph import target_size

# as_of is 2021-03-15 (the `settings` fixture). Ages on as_of in brackets, worked out by hand.
EDGES = World(
    dob={
        "A17": "2003-03-16",  # (17) turns 18 tomorrow: still a child -> child_victim
        "A18": "2003-03-15",  # (18) turns 18 on as_of: not a child -> transitional_victim
        "B25": "1996-03-15",  # (25) turns 25 on as_of: transitional_age_max is inclusive -> transitional_victim
        "B25x": "1995-03-16",  # (25) turns 26 tomorrow -> transitional_victim
        "B26": "1995-03-15",  # (26) turns 26 on as_of: too old -> not flagged
        "N17": "2003-03-16",  # (17) in the network only -> child_in_network
        "N18": "2003-03-15",  # (18) in the network only -> not flagged
        "O1": "1970-01-01",  # (51) the offender: not flagged
    },
    # One selected crime in 2010: every victim was a child then (aged 6 to 14).
    crimes=[Crime("C1", "2010-06-01", offenders=("O1",), victims=("A17", "A18", "B25", "B25x", "B26"),
                  others=("N17", "N18"))],
    groups={"G1": ["O1", "N17", "N18"]},
)


def test_exactly_18_and_exactly_25_on_as_of(duck, settings):
    """On the 18th birthday a person is no longer a child; on the 25th still transitional, on the 26th not.
    `< child_age` made `<= child_age` flags A18 and N18 as children; BETWEEN made exclusive drops B25."""
    build_world(duck, EDGES)
    safeguard.run(duck, settings)
    got = {p: list(r["reasons"]) for p, r in flags(duck).items()}
    assert got == {
        "A17": ["child_victim"],
        "A18": ["transitional_victim"],
        "B25": ["transitional_victim"],
        "B25x": ["transitional_victim"],
        "N17": ["child_in_network"],
    }
    ages = {p: r["age_on_as_of"] for p, r in flags(duck).items()}
    assert ages == {"A17": 17, "A18": 18, "B25": 25, "B25x": 25, "N17": 17}


def test_target_size_just_below_and_above_an_integer():
    """0.07 x 100 is 7.000000000000001 in floating point: the target is 7, not 8 (and 0.07 x 300 is
    21.000000000000004: 21). 0.29 x 100 = 28.999999999999996 is 29. A genuine fraction rounds up."""
    assert 0.07 * 100 > 7 and 0.07 * 300 > 21 and 0.29 * 100 < 29  # the floating-point facts behind the cases
    assert target_size(100, 0.07) == 7
    assert target_size(300, 0.07) == 21
    assert target_size(100, 0.29) == 29
    assert target_size(101, 0.07) == 8  # 7.07 -> 8
    assert target_size(20, 0.07) == 2  # 1.4 -> 2, and never below 2


@given(st.integers(1, 99), st.integers(3, 2000))
def test_target_size_is_the_exact_ceiling_of_percent_fractions(percent, n):
    """For fraction = percent / 100 the target is ceil(percent * n / 100), computed in integers."""
    exact = -(-percent * n // 100)
    assert target_size(n, percent / 100) == max(2, exact)
    assert exact == math.ceil(percent * n / 100) or (percent * n) % 100 == 0
