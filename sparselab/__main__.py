"""``python -m sparselab``: the ``sparselab`` command line (see :mod:`sparselab.cli`)."""

import sys

from sparselab.cli import main

if __name__ == "__main__":
    sys.exit(main())
