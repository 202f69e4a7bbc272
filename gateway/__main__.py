"""`python -m gateway` is the `checkpoint` command."""

from gateway.cli.main import main

main()
