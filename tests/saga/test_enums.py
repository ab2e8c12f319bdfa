"""The saga's Python enums and the wire's protobuf enums are one vocabulary."""

from __future__ import annotations

import enum

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from arbiter.platform.config import HedgeStepConfig
from arbiter.platform.telemetry import metrics
from arbiter.saga.machine import HedgeStrategy, LegRole, State
from arbiter.v1 import execution_pb2, saga_pb2


@pytest.mark.parametrize(("python", "wire", "prefix"), [
    (LegRole, execution_pb2.LegRole, "LEG_ROLE_"),
    (HedgeStrategy, execution_pb2.HedgeStrategy, "HEDGE_STRATEGY_"),
    (State, saga_pb2.SagaState, "SAGA_STATE_"),
])
def test_python_and_proto_enums_have_the_same_members_and_values(
    python: type[enum.IntEnum], wire: EnumTypeWrapper, prefix: str
) -> None:
    on_wire = {name.removeprefix(prefix): value for name, value in wire.items()
               if value != 0}  # 0 is proto3's "unset", never a Python member
    assert on_wire == {member.name: member.value for member in python}


def test_config_strategies_and_metric_labels_are_the_enum_slugs() -> None:
    literal = HedgeStepConfig.model_fields["strategy"].annotation.__args__
    assert set(literal) == {s.slug for s in HedgeStrategy}
    assert {s.slug for s in HedgeStrategy} | {"hold"} == set(metrics.STRATEGIES)
