"""``python -m artrec.cli``."""

import sys

from artrec.cli import main

sys.exit(main())
