"""`python -m flows.cli …` is `voxclone …` (the tests start runs this way)."""

import sys

from flows.cli import main

sys.exit(main())
