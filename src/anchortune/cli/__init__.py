"""The command line: thin Typer commands over the application layer (app/)."""
