import sys

from gf_eval.command import main

sys.exit(main())
