import sys

from liverec_edge.cli import main

sys.exit(main())
