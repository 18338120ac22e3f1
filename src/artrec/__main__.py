"""``python -m artrec``."""

import sys

from artrec.cli import main

sys.exit(main())
