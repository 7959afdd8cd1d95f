"""``python -m topnet.cli``: the ``topnet`` command where the console script is not on the PATH."""
import sys

from topnet.cli import main

if __name__ == "__main__":
    sys.exit(main())
