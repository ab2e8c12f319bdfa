"""Fixtures shared across test areas."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import settings

from arbiter.platform.bus import TansuBroker

# Hypothesis: no deadline (wall time on a shared 2-core runner is not what any property is
# about) and a failure prints the blob that replays it (@reproduce_failure). `ci` runs more
# examples where a test does not set its own count; HYPOTHESIS_PROFILE picks the profile.
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# In CI (ARBITER_NO_SKIPS=1, set by .ci/run) a skipped test is a failure: a conformance test
# that quietly skips because the SDK or the Vault API is missing proves nothing.
NO_SKIPS = os.environ.get("ARBITER_NO_SKIPS") == "1"


def _fail_skip(report: Any) -> None:
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome, report.longrepr = "failed", f"skipped in CI (ARBITER_NO_SKIPS): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.fixture(scope="session")
def tansu_bootstrap() -> Iterator[str]:
    """One real tansu Kafka broker for the whole session, on a free loopback port.

    It runs as a plain subprocess, not tied to any test's event loop, and is stopped (and
    reaped) at the end of the session."""
    broker = TansuBroker()
    asyncio.run(broker.start())
    try:
        yield broker.bootstrap
    finally:
        asyncio.run(broker.stop())


@pytest.fixture(autouse=True)
def _control_endpoint_file(tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's embedded runs announce their control API in a file of their own, never in
    the user's runtime folder (a run the developer has open keeps its file)."""
    monkeypatch.setenv("ARBITER_CONTROL_FILE",
                       str(tmp_path_factory.mktemp("control") / "control.json"))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Leave the root logger's handlers and level, and structlog, as the test found them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
