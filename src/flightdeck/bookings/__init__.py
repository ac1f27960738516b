"""Bookings: seat holds, PNRs, passengers, cancellation and the hold sweeper."""
