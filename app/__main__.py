"""`python -m prep ...` (and `torchrun -m prep train ...`): the same as the `prep` command."""

import sys

from prep.cli import main

sys.exit(main())
