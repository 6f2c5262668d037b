"""``python -m eo_lab``: the ``eo`` command, for a checkout without the script."""

import sys

from eo_lab.cli import main

sys.exit(main())
