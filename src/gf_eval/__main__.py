import sys

from gf_eval.cli import main

sys.exit(main())
