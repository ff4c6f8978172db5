"""The attacker's playbook: each module is one kind of attack; they reuse the federation tests' site fixtures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "federation" / "flower"))
