"""``python -m openclb`` is the ``openclb`` command."""

from openclb.cli import main

raise SystemExit(main())
