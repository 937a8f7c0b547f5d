"""Puts tests/modules on sys.path, so tests in its sub-folders (service/, package/)
import the shared helpers with `from module_support import ...`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
