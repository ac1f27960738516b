"""The FlightDeck app: a Flet (Flutter) front end for passengers, agents and admins.

It is a client of the public HTTP API and `/ws` only (`api.py`, `live.py`), so the same code
runs served by the FlightDeck server (`flightdeck.ui.server`, mounted at `/`) or packaged with
`flet build` as a phone app talking to a remote server (`flightdeck.ui.phone`).
"""
