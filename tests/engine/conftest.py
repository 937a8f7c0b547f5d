from __future__ import annotations

import sys
from pathlib import Path

# The probe modules (tests/engine/probe_modules.py) are imported by the registry by name.
sys.path.insert(0, str(Path(__file__).parent))

from partout.modules import registry  # noqa: E402

registry.register("probe", "probe_modules.probe")
registry.register("step", "probe_modules.step")
registry.register("batch", "probe_modules.batch")
