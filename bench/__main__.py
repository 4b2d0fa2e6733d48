"""``python -m bench``: the load bench (see bench/cli.py, or ``python -m bench --help``)."""

import sys

from .cli import main

sys.exit(main())
