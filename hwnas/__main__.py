"""``python -m hwnas`` runs the ``hwnas`` command."""

from hwnas.cli import main

raise SystemExit(main())
