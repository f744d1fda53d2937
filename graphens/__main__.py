"""`python -m graphens` runs the CLI."""

import sys

from graphens.cli import main

sys.exit(main())
