"""``python -m cfemu``: the same as the ``cfemu`` command."""

from cfemu.cli import main

raise SystemExit(main())
