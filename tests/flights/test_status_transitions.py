"""The status transition table (`ALLOWED_TRANSITIONS`) against the contract's rules."""

from __future__ import annotations

import pytest

from flightdeck.flights.errors import InvalidStatusTransition
from flightdeck.flights.status.service import ALLOWED_TRANSITIONS, check_transition

BEFORE_BOARDING = {"scheduled", "on_time", "delayed"}
# The rules as API.md / the issue state them, including same-status updates.
EXPECTED = {
    **{status: BEFORE_BOARDING | {"boarding", "cancelled"} for status in BEFORE_BOARDING},
    "boarding": {"boarding", "departed", "delayed", "cancelled"},
    "departed": {"departed", "arrived", "diverted"},
    "diverted": {"diverted", "arrived"},
    "arrived": set(),
    "cancelled": set(),
}


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize("from_status", sorted(ALLOWED_TRANSITIONS))
@pytest.mark.parametrize("to_status", sorted(ALLOWED_TRANSITIONS))
def test_transition_is_allowed_exactly_when_the_rules_say_so(
    from_status: str, to_status: str
) -> None:
    if to_status in EXPECTED[from_status]:
        check_transition(from_status, to_status)
    else:
        with pytest.raises(InvalidStatusTransition):
            check_transition(from_status, to_status)
