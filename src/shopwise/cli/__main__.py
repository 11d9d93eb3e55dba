"""``python -m shopwise.cli``."""

from shopwise.cli import main

main()
