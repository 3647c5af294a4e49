"""`python -m jaylyrics`: the same as the `jaylyrics` command."""
from jaylyrics.cli import main

main(prog_name="jaylyrics")
