"""Print how many cases each fuzz target generated in this run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from fuzzing import CASES

    if not CASES:
        return
    parts = ", ".join(f"{name} {n}" for name, n in sorted(CASES.items()))
    terminalreporter.write_line(f"fuzz: {sum(CASES.values()):,} generated cases ({parts})")
