import sys

from edtech.cli.parser import main

sys.exit(main())
