"""Writing an SSIM chapter 7 file, record by record (the export's text).

`SsimWriter` numbers the records (serial numbers from 000001; zero filler records have none)
and pads with filler records so the header, each carrier record, each carrier's flight legs
and each trailer fill whole 1,000-byte blocks of five records. Flight legs are written as
local-time records (time mode "L") with the UTC variation of each end; data the leg record has
no room for goes into segment data records (type 4): the codeshare operating carrier (data
element 2), the operating flight (50) and a configuration longer than 20 bytes (108).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from flightdeck.flights.schedules.ssim import records as r
from flightdeck.flights.schedules.ssim.records import RecordBuilder


@dataclass(frozen=True)
class ExportLeg:
    """One leg record to write: dates are flight dates, times local, days as digits."""

    flight_number: str
    itinerary_variation: int
    leg_sequence: int
    service_type: str
    period_from: dt.date
    period_to: dt.date
    days_of_week: str
    origin: str
    destination: str
    departure: dt.time
    arrival: dt.time
    departure_utc_offset: int
    arrival_utc_offset: int
    departure_day: int
    arrival_day: int
    aircraft_type: str | None
    booking_designators: str
    configuration: str
    traffic_restrictions: str | None = None
    onward_flight: str | None = None
    operating_carrier: str | None = None
    operating_flight: str | None = None


def season_of(day: dt.date) -> str:
    """The IATA season a date falls in: S (last Sunday of March to the last Saturday of
    October) or W, with the two-digit year it starts in."""

    def last_sunday(year: int, month: int) -> dt.date:
        last = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
        return last - dt.timedelta(days=(last.weekday() + 1) % 7)

    summer_start = last_sunday(day.year, 3)
    winter_start = last_sunday(day.year, 10)
    if summer_start <= day < winter_start:
        return f"S{day.year % 100:02d}"
    year = day.year if day >= winter_start else day.year - 1
    return f"W{year % 100:02d}"


class SsimWriter:
    """The lines of one file, produced in order."""

    def __init__(self, created_at: dt.datetime) -> None:
        self._serial = 0
        self._in_block = 0
        self._created_at = created_at

    def _record(self, builder: RecordBuilder) -> str:
        self._serial += 1
        self._in_block = (self._in_block + 1) % r.BLOCK_RECORDS
        return builder.text(self._serial) + "\n"

    def _pad(self) -> Iterator[str]:
        while self._in_block:
            self._in_block = (self._in_block + 1) % r.BLOCK_RECORDS
            yield r.FILLER + "\n"

    def header(self) -> Iterator[str]:
        builder = RecordBuilder("1").put(r.HEADER_TITLE_FIELD, r.HEADER_TITLE)
        builder.put(r.NUMBER_OF_SEASONS, "1").put(r.DATA_SET_SERIAL, "001")
        yield self._record(builder)
        yield from self._pad()

    def carrier(self, airline: str, validity: tuple[dt.date, dt.date]) -> Iterator[str]:
        builder = RecordBuilder("2").put(r.TIME_MODE, "L").put(r.AIRLINE, airline)
        builder.put(r.SEASON, season_of(validity[0]))
        builder.put(r.VALIDITY_FROM, r.format_date(validity[0]))
        builder.put(r.VALIDITY_TO, r.format_date(validity[1]))
        builder.put(r.CREATION_DATE, r.format_date(self._created_at.date()))
        builder.put(r.TITLE_OF_DATA, "FLIGHTDECK SCHEDULES").put(r.SCHEDULE_STATUS, "P")
        builder.put(r.CREATION_TIME, f"{self._created_at:%H%M}")
        yield self._record(builder)
        yield from self._pad()

    def legs(self, legs: list[ExportLeg]) -> Iterator[str]:
        """The leg records of one itinerary variation, then their segment data records."""
        for leg in legs:
            yield self._record(self._leg_record(leg))
        for leg in legs:
            for identifier, data in _segment_data(leg):
                yield self._record(self._segment_record(leg, identifier, data))

    def trailer(self, airline: str, *, last: bool) -> Iterator[str]:
        yield from self._pad()  # the carrier's legs end their block; the trailer starts one
        builder = RecordBuilder("5").put(r.AIRLINE, airline)
        builder.put(r.SERIAL_CHECK, f"{(self._serial - 1) % r.MAX_SERIAL + 1:06d}")
        builder.put(r.END_CODE, "E" if last else "C")
        yield self._record(builder)
        yield from self._pad()

    @staticmethod
    def _identify(builder: RecordBuilder, leg: ExportLeg) -> RecordBuilder:
        airline, number, suffix = r.split_flight_number(leg.flight_number)
        builder.put(r.OPERATIONAL_SUFFIX, suffix).put(r.AIRLINE, airline)
        builder.put(r.FLIGHT_NUMBER, f"{number:04d}")
        builder.put(r.ITINERARY_VARIATION, f"{leg.itinerary_variation % 100:02d}")
        builder.put(r.LEG_SEQUENCE, f"{leg.leg_sequence:02d}")
        return builder.put(r.SERVICE_TYPE, leg.service_type)

    def _leg_record(self, leg: ExportLeg) -> RecordBuilder:
        builder = self._identify(RecordBuilder("3"), leg)
        builder.put(r.PERIOD_FROM, r.format_date(leg.period_from))
        builder.put(r.PERIOD_TO, r.format_date(leg.period_to))
        builder.put(r.DAYS_OF_OPERATION, r.format_days(leg.days_of_week))
        builder.put(r.DEPARTURE_STATION, leg.origin)
        builder.put(r.PASSENGER_STD, r.format_time(leg.departure))
        builder.put(r.AIRCRAFT_STD, r.format_time(leg.departure))
        builder.put(r.DEPARTURE_VARIATION, r.format_utc_offset(leg.departure_utc_offset))
        builder.put(r.ARRIVAL_STATION, leg.destination)
        builder.put(r.AIRCRAFT_STA, r.format_time(leg.arrival))
        builder.put(r.PASSENGER_STA, r.format_time(leg.arrival))
        builder.put(r.ARRIVAL_VARIATION, r.format_utc_offset(leg.arrival_utc_offset))
        builder.put(r.AIRCRAFT_TYPE, leg.aircraft_type or "")
        builder.put(r.BOOKING_DESIGNATORS, leg.booking_designators)
        if leg.itinerary_variation >= 100:
            builder.put(r.ITINERARY_VARIATION_OVERFLOW, str(leg.itinerary_variation // 100))
        if leg.onward_flight:
            airline, number, suffix = r.split_flight_number(leg.onward_flight)
            builder.put(r.ONWARD_AIRLINE, airline).put(r.ONWARD_NUMBER, f"{number:04d}")
            builder.put(r.ONWARD_SUFFIX, suffix)
        builder.put(r.TRAFFIC_RESTRICTION, leg.traffic_restrictions or "")
        if len(leg.configuration) <= r.CONFIGURATION.width:
            builder.put(r.CONFIGURATION, leg.configuration)
        variations = r.format_date_variation(leg.departure_day) + r.format_date_variation(
            leg.arrival_day
        )
        return builder.put(r.DATE_VARIATION, variations)

    def _segment_record(self, leg: ExportLeg, identifier: int, data: str) -> RecordBuilder:
        builder = self._identify(RecordBuilder("4"), leg)
        if leg.itinerary_variation >= 100:
            builder.put(r.SEGMENT_IVI_OVERFLOW, str(leg.itinerary_variation // 100))
        builder.put(r.DATA_ELEMENT_IDENTIFIER, f"{identifier:03d}")
        builder.put(r.BOARD_POINT, leg.origin).put(r.OFF_POINT, leg.destination)
        return builder.put(r.SEGMENT_DATA, data)


def _segment_data(leg: ExportLeg) -> list[tuple[int, str]]:
    data: list[tuple[int, str]] = []
    if leg.operating_carrier:
        data.append((2, leg.operating_carrier))
    if leg.operating_flight:
        airline, number, suffix = r.split_flight_number(leg.operating_flight)
        data.append((50, f"{airline}{number:04d}{suffix}"))
    if len(leg.configuration) > r.CONFIGURATION.width:
        data.append((108, leg.configuration))
    return data
