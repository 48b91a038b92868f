"""Allow ``python -m gradtop``."""

from gradtop.cli import main

main()
