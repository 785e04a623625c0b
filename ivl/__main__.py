from ivl.cli import app

app(prog_name="ivl")
