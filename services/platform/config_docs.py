"""The configuration reference in docs/configuration.md, generated from the models.

Every field's path, type, default, range and description come from `ArbiterConfig` and the
venue plugins' models, so the reference cannot drift from what `load_config` accepts; a test
fails when the committed document differs (`python tools/gen_config_docs.py` rewrites it).
"""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from arbiter.platform.config import ArbiterConfig, PairConfig
from arbiter.platform.venues import VENUES

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python tools/gen_config_docs.py) -->"
END = "<!-- END GENERATED REFERENCE -->"
_TYPES = {int: "integer", float: "number", Decimal: "decimal", str: "string",
          bool: "boolean", SecretStr: "secret string"}


def _type(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if typing.get_origin(annotation) is dict:
        return f"mapping of venue to {_type(typing.get_args(annotation)[1])}"
    if typing.get_origin(annotation) is list:
        return f"list of {typing.get_args(annotation)[0].__name__}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return _TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _range(info: FieldInfo) -> str:
    low = high = ""
    parts = []
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"[{item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"({item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"{item.le}]"
        elif isinstance(item, annotated_types.Lt):
            high = f"{item.lt})"
        elif isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length}")
        elif isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length}")
        elif getattr(item, "pattern", None):
            parts.append(f"`{item.pattern}`")
        if getattr(item, "decimal_places", None) is not None:
            parts.append(f"{item.decimal_places} decimals")
    if low or high:
        parts.insert(0, f"{low or '(-inf'}, {high or 'inf)'}")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "see below" if info.annotation is not None and _is_model(info) else "(computed)"
    if info.default is PydanticUndefined:
        return "required"
    value = info.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _is_model(info: FieldInfo) -> bool:
    return isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)


def _table(prefix: str, model: type[BaseModel], skip: tuple[str, ...] = (),
           title: str = "") -> list[str]:
    doc = " ".join((model.__doc__ or "").split())
    lines = [f"### `{prefix}`{title}", "", doc, "", "| key | type | default | range | description |",
             "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        description = " ".join((info.description or "").split())
        lines.append(f"| `{prefix}.{name}` | {_type(info.annotation)} | {_default(info)} | "
                     f"{_range(info)} | {description} |")
    return [*lines, ""]


def reference() -> str:
    """The generated part of docs/configuration.md, markers included."""
    lines = [BEGIN, ""]
    for section, info in ArbiterConfig.model_fields.items():
        assert info.annotation is not None
        lines += _table(section, info.annotation, skip=("sections",))
        if section == "market":
            lines += _table("market.pairs[]", PairConfig)
            for plugin in VENUES:
                lines += _table("market.pairs[].a", plugin.market_model,
                                title=f" (or `.b`) with `venue: {plugin.slug}`")
        if section == "venues":
            for plugin in VENUES:
                lines += _table(f"venues.{plugin.slug}", plugin.settings_model,
                                skip=("venue",))
    return "\n".join([*lines, END]) + "\n"


def updated(document: str) -> str:
    """`document` with its generated reference replaced by the current one."""
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + reference() + tail.lstrip("\n")
