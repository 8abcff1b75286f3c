"""``python -m ragdistill`` runs the command line."""

from ragdistill.cli import main

main()
