"""Validate a Tenant completely before anything is created, naming the offending field.

Two checks, both pure. `validate_tenant` checks the spec against `TenantSpec`, the very
models the CRD schema is generated from (the API server already enforced that schema, but a
cluster may run an older CRD, and a half-applied execution plane, say a saga without its
risk gate, is worse than none). `pod_configs` then loads, with the real `load_config` rules,
what every pod of the built children would load: its ConfigMap file plus its environment.
A Tenant whose pods would refuse their configuration is reported, and not rolled out.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from arbiter.operator.crd import DNS_LABEL, MAX_TENANT_NAME
from arbiter.operator.spec import TenantSpec
from arbiter.platform.config import ArbiterConfig, ConfigError, config_from_text


@dataclass(frozen=True)
class SpecError:
    """One problem: the dotted path of the field and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _path(parts: Iterable[Any]) -> str:
    """Render a pydantic location as `spec.risk.max_exposure_usd` / `spec.market.pairs[2].a`.

    A venue's section is validated under `venues.sections.<slug>` but written `venues.<slug>`.
    """
    text, previous = "spec", None
    for part in parts:
        if not (part == "sections" and previous == "venues"):
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        previous = part
    return text


def validate_tenant(name: str, spec: Mapping[str, Any]) -> list[SpecError]:
    """Return every problem with a Tenant's name and spec (empty when it may be built)."""
    errors: list[SpecError] = []
    if len(name) > MAX_TENANT_NAME or not re.match(DNS_LABEL, name):
        errors.append(SpecError(
            "metadata.name", f"{name!r} must be a DNS label of at most {MAX_TENANT_NAME} "
            "characters"))
    try:
        TenantSpec.model_validate(dict(spec))
    except ValidationError as exc:
        for error in exc.errors():
            given = f" (got {error['input']!r:.80})" if error["loc"] else ""
            errors.append(SpecError(_path(error["loc"]),
                                    " ".join(f"{error['msg']}{given}".split())))
    return errors


def _config_text(pod: Mapping[str, Any], container: Mapping[str, Any], path: str,
                 config_maps: Mapping[str, Mapping[str, str]]) -> str:
    """The text of the file `path` as the container sees it through its ConfigMap mounts."""
    directory, key = posixpath.split(path)
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    volume = volumes.get(mounts.get(directory, ""), {})
    data = config_maps.get(volume.get("configMap", {}).get("name", ""), {})
    if key not in data:
        raise ConfigError(f"{path} is not in a ConfigMap mounted into the container")
    return data[key]


def pod_configs(manifests: Iterable[Mapping[str, Any]]) -> dict[str, ArbiterConfig]:
    """What each `arbiter serve` container among `manifests` loads at start, by
    `<Deployment>/<container>`; `ConfigError` names the container and the bad key.

    Variables from Secrets (`valueFrom`) cannot be read here and are left unset; the
    config's own defaults stand in for them, as the file does not set them either."""
    manifests = list(manifests)
    config_maps = {m["metadata"]["name"]: m.get("data", {}) for m in manifests
                   if m["kind"] == "ConfigMap"}
    configs: dict[str, ArbiterConfig] = {}
    for workload in (m for m in manifests if m["kind"] == "Deployment"):
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            if container.get("args", [None])[0] != "serve":
                continue
            where = f"{workload['metadata']['name']}/{container['name']}"
            env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            path = env.pop("ARBITER_CONFIG", "")
            try:
                text = _config_text(pod, container, path, config_maps) if path else ""
                configs[where] = config_from_text(text, env, where=path or "config")
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    return configs
