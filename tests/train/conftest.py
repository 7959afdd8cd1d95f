"""The train tests' helpers (ddp_compare.py) are importable: --import-mode=importlib does not put this folder on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
