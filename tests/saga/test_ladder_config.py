"""The hedge ladder as configuration: defaults equal to the built-in ladder, bad ones named."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.platform.config import ConfigError, load_config
from arbiter.saga.machine import DEFAULT_LADDER, HedgeStep, HedgeStrategy
from arbiter.topology.builders import saga_policy


def _ladder(steps: Any) -> tuple[HedgeStep, ...]:
    config = load_config(environ={}, overrides={"saga.hedge_ladder": steps})
    return saga_policy(config.saga).ladder


def test_the_default_configuration_is_todays_ladder() -> None:
    assert saga_policy(load_config(environ={}, overrides={}).saga).ladder == DEFAULT_LADDER


def test_a_configured_ladder_reaches_the_machine_step_for_step() -> None:
    steps = [{"strategy": "chase", "ticks": 3}, {"strategy": "unwind"}, {"strategy": "unwind"}]
    assert _ladder(steps) == (HedgeStep(HedgeStrategy.CHASE, 3), HedgeStep(HedgeStrategy.UNWIND),
                              HedgeStep(HedgeStrategy.UNWIND))


@pytest.mark.parametrize(("steps", "named"), [
    ([{"strategy": "retry"}, {"strategy": "chase", "ticks": 1}], "has no 'unwind' step"),
    ([{"strategy": "unwind"}, {"strategy": "retry"}], "the unwind must be last"),
    ([], "at least 1 item"),
    ([{"strategy": "chase"}, {"strategy": "unwind"}], "a chase step needs ticks >= 1"),
    ([{"strategy": "unwind", "ticks": 2}], "ticks=2 is only for a chase step"),
    ([{"strategy": "chase", "ticks": 101}, {"strategy": "unwind"}], "less than or equal to 100"),
    ([{"strategy": "hedge"}, {"strategy": "unwind"}], "'retry', 'chase' or 'unwind'"),
    ([{"strategy": "unwind"}] * 17, "at most 16 items"),
])
def test_a_ladder_that_cannot_end_flat_or_is_malformed_is_rejected_by_name(
    steps: Any, named: str
) -> None:
    with pytest.raises(ConfigError, match="saga.hedge_ladder") as caught:
        _ladder(steps)
    assert named in str(caught.value)
