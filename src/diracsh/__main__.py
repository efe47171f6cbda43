"""``python -m diracsh``: the same as the ``diracsh`` command."""

from diracsh.cli import main

raise SystemExit(main())
