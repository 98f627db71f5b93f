"""The command line: thin Typer commands over service.py."""
