"""IATA SSIM chapter 7 schedule files: what FlightDeck reads and writes.

- records.py: the 200-byte record layouts (byte positions of every field) and the codecs of
  dates, times, UTC variations, days and date variations;
- parser.py: the streaming reader (one flight's legs in memory at a time);
- configuration.py: aircraft configuration/version forms and the compartment → cabin mapping;
- legs.py: a flight's legs as FlightDeck schedule definitions (local times, day offsets);
- export.py: the streaming writer of what FlightDeck holds.

What a leg keeps of the file: flight number (with operational suffix), itinerary variation,
leg sequence, service type, period and days, stations, passenger times (STD/STA), date
variations, aircraft type, configuration/version (as filed, and as cabins), traffic
restriction codes (record 3 bytes 150-160, passenger codes of DEI 170 where it says Z), onward
flight (bytes 138-146) and the codeshare operating carrier and flight (DEI 2, 9 and 50).
Terminals, booking designators and modifiers, meal notes and the other data elements are not
kept.
"""
