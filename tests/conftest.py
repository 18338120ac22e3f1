"""Suite-wide rules.

CI installs every extra and starts every service the tests need, so there nothing may be
skipped: with ``ARTREC_NO_SKIPS=1`` (set by ``.ci/run``) a run that skipped any test fails.
"""

from __future__ import annotations

import os

import pytest


def _skipped(config: pytest.Config) -> list[pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if os.environ.get("ARTREC_NO_SKIPS") == "1" and _skipped(config):
        terminalreporter.write_line(
            f"ARTREC_NO_SKIPS=1: {len(_skipped(config))} test(s) were skipped; "
            "every extra and service must be present here",
            red=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("ARTREC_NO_SKIPS") == "1" and _skipped(session.config) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
