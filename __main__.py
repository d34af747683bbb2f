"""`python -m parascale`: the command line."""

import sys

from .core.cli import main

sys.exit(main())
