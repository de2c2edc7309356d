import sys

from mouseact.cli import main

sys.exit(main())
