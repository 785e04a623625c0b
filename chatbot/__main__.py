from chatbot.cli import app

app(prog_name="ivl")
