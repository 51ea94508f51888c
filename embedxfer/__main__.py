"""`python -m embedxfer ...` runs the CLI."""

from embedxfer.cli import main

raise SystemExit(main())
