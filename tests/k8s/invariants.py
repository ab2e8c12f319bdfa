"""Pod-level rules every workload must satisfy, whether the chart or the operator built it."""

from __future__ import annotations

import re
from typing import Any

WHOLE_CPU = re.compile(r"^[1-9][0-9]*$")


def pod_violations(pod: dict[str, Any], *, read_only_root: bool = True) -> list[str]:
    """Every broken rule in a pod spec (empty means compliant)."""
    problems: list[str] = []
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        problems.append("pod securityContext.runAsNonRoot is not true")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        where = f"container {c['name']}"
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities do not drop ALL")
        if read_only_root and sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in c:
                problems.append(f"{where}: no {probe}")
        requests = c.get("resources", {}).get("requests", {})
        if not {"cpu", "memory"} <= set(requests):
            problems.append(f"{where}: cpu/memory requests missing")
    return problems


def is_guaranteed_pinned(pod: dict[str, Any], label: tuple[str, str]) -> bool:
    """Guaranteed QoS with whole cores, required affinity to the label, and a toleration."""
    for c in pod["containers"]:
        res = c["resources"]
        if res.get("requests") != res.get("limits") or not WHOLE_CPU.match(str(res["requests"]["cpu"])):
            return False
    terms = (
        pod.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", {})
        .get("nodeSelectorTerms", [])
    )
    wanted = {"key": label[0], "operator": "In", "values": [label[1]]}
    pinned = any(wanted in term.get("matchExpressions", []) for term in terms)
    tolerated = any(t.get("key") == label[0] for t in pod.get("tolerations", []))
    spread = "podAntiAffinity" in pod.get("affinity", {})
    return pinned and tolerated and spread
