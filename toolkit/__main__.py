"""``python -m toolkit`` runs the kseg CLI."""

from toolkit.cli import main

raise SystemExit(main())
