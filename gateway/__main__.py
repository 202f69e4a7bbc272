"""`python -m gateway` is the `checkpoint` command."""

from gateway.cli import main

main()
