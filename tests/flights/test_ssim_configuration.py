"""Every aircraft configuration/version form SSIM allows, read into FlightDeck's cabins."""

from __future__ import annotations

import pytest

from flightdeck.flights.schedules.ssim.configuration import (
    booking_designators,
    format_configuration,
    read_configuration,
)

DEFAULT = {"economy": 150}


@pytest.mark.parametrize(
    ("raw", "seats", "version"),
    [
        ("J42W24Y302", {"business": 42, "premium_economy": 24, "economy": 302}, None),
        ("F8C42M180", {"first": 8, "business": 42, "economy": 180}, None),
        ("F4C38E24M201", {"first": 4, "business": 38, "premium_economy": 24, "economy": 201}, None),
        ("C030Y150", {"business": 30, "economy": 150}, None),
        ("Y100Y20", {"economy": 120}, None),
        ("A2P4R6", {"first": 12}, None),
        ("D10I10Z10", {"business": 30}, None),
        ("C0Y120", {"economy": 120}, None),
        ("Y118VV118", {"economy": 118}, "118"),
        ("J14W34Y316VV364", {"business": 14, "premium_economy": 34, "economy": 316}, "364"),
        ("  J12Y138  ", {"business": 12, "economy": 138}, None),
    ],
)
def test_seat_forms_map_compartments_to_cabins(
    raw: str, seats: dict[str, int], version: str | None
) -> None:
    configuration = read_configuration(raw, DEFAULT)

    assert configuration.seats == seats
    assert configuration.version == version
    assert configuration.warning is None


def test_version_alone_gives_no_seats_and_a_warning_naming_the_field() -> None:
    configuration = read_configuration("VV738H", DEFAULT)

    assert configuration.seats == {} and configuration.version == "738H"
    assert configuration.warning is not None
    assert configuration.warning.startswith("aircraft configuration/version:")
    assert "no seat counts" in configuration.warning and "economy 150" in configuration.warning


def test_blank_configuration_is_silent() -> None:
    assert read_configuration("   ", DEFAULT) == read_configuration("", DEFAULT)
    assert read_configuration("", DEFAULT).warning is None


@pytest.mark.parametrize("raw", ["J1234", "12Y", "J12/Y100", "Y", "j12y100", "J12 Y100"])
def test_unreadable_configuration_is_a_warning_naming_the_field(raw: str) -> None:
    configuration = read_configuration(raw, DEFAULT)

    assert configuration.seats == {}
    assert configuration.warning is not None
    assert configuration.warning.startswith("aircraft configuration/version:")
    assert "cannot be read" in configuration.warning and "economy 150" in configuration.warning


def test_cabins_are_written_back_first_class_first() -> None:
    seats = {"economy": 138, "business": 12, "first": 4, "premium_economy": 20}

    assert format_configuration(seats) == "F4J12W20Y138"
    assert format_configuration(seats, "A1") == "F4J12W20Y138VVA1"
    assert read_configuration(format_configuration(seats), DEFAULT).seats == seats
    assert booking_designators(seats) == "FJWY"
    assert format_configuration({}) == ""
