"""``python -m devstack demo`` (the default) or ``python -m devstack up``: see devstack/cli_local.py."""

from devstack.cli_local import main

raise SystemExit(main())
