"""``python -m ivr`` is the ``ivr`` command."""

from ivr.cli import main

raise SystemExit(main())
