"""The top of the house: the `ivl` command (cli.py) and the Gradio chat (ui.py). Nothing imports this package."""
