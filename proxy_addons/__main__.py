"""`python -m proxy_addons` is the `orange-proxy` command."""

import sys

from proxy_addons.cli import main

sys.exit(main())
