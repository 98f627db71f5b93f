"""`python -m anchortune` runs the command line."""

from anchortune.cli.main import main

main()
