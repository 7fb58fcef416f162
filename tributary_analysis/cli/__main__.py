import sys

from tributary_analysis.cli import main

sys.exit(main())
