"""What the hostile suites did, counted as they run, printed as a table at the end (conftest.py)."""

from __future__ import annotations

import os
from collections import Counter

# (test function, figure) -> count
FIGURES: Counter[tuple[str, str]] = Counter()


def current_test() -> str:
    """The running test function's name, without its parameters."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    return node.split("::")[-1].split("[")[0]


def tally_answer(status: int) -> int:
    """Counts an HTTP answer of the running test by class (2xx, 4xx, 5xx); returns it unchanged."""
    FIGURES[(current_test(), f"{status // 100}xx")] += 1
    return status


def tally_example() -> None:
    """Counts one generated example of the running test (one with no HTTP answer to count)."""
    FIGURES[(current_test(), "examples")] += 1


def _examples(test: str) -> int:
    return FIGURES[(test, "examples")] or sum(FIGURES[(test, f"{n}xx")] for n in range(1, 6))


def table() -> list[str]:
    tests = sorted({test for test, _ in FIGURES})
    columns = ("passed", "failed", "2xx", "3xx", "4xx", "5xx")
    width = max((len(t) for t in tests), default=4)
    lines = [f"{'hostile test':<{width}}  {'inputs':>6} " + " ".join(f"{c:>6}" for c in columns)]
    for test in tests:
        figures = " ".join(f"{FIGURES[(test, c)]:>6}" for c in columns)
        lines.append(f"{test:<{width}}  {_examples(test):>6} {figures}")
    lines.append("inputs: requests or generated examples tried; passed/failed: test cases (a parametrized")
    lines.append("case, or one Hypothesis test of all its examples); 2xx…5xx: the callback endpoint's")
    lines.append("answers, direct and through the local HTTP gateway")
    return lines
