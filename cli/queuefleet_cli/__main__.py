"""`python -m queuefleet_cli ...`, as the `queuefleet` script."""

import sys

from .main import main

sys.exit(main())
