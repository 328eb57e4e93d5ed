import sys

from edtech.cli import main

sys.exit(main())
