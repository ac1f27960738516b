from flightdeck.cli import app

app(prog_name="flightdeck")
