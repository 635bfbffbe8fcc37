"""Prints the hostile suites' figures as a table after the run (no -s needed)."""

from __future__ import annotations

import pytest

from tests.hostile.figures import FIGURES, table


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "tests/hostile/" in report.nodeid:
        FIGURES[(report.nodeid.split("::")[-1].split("[")[0], report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("hostile input: figures")
        for line in table():
            terminalreporter.write_line(line)
