"""Print the rule catalogue as a markdown table: ``python -m fsm.rules > docs/rules.md``."""

from __future__ import annotations

import sys

from fsm.rules import render_catalogue

if __name__ == "__main__":
    sys.stdout.write(render_catalogue())
