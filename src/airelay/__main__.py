import sys

from airelay.cli import main

sys.exit(main())
