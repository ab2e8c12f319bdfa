"""A small NetworkPolicy evaluator: is a connection allowed, given the policies and the pods'
labels? Kubernetes semantics (networking.k8s.io/v1): a pod selected by no policy of a type is
not isolated for it; a selected pod admits what any rule of any selecting policy admits; a
connection needs the source's egress and the destination's ingress. Ports are numbers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[int, str], ...] = ()
    # What the test expects of it: group (release, tenant, outside), role, tenant.
    group: str = "outside"
    role: str = ""
    tenant: str = ""


@dataclass(frozen=True)
class Address:
    """An endpoint outside the cluster's pods (an ipBlock peer can match it)."""

    ip: str
    name: str = ""


@dataclass
class Cluster:
    namespaces: dict[str, Mapping[str, str]] = field(default_factory=dict)
    policies: list[Manifest] = field(default_factory=list)

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return {"kubernetes.io/metadata.name": namespace, **self.namespaces.get(namespace, {})}

    def allowed(self, src: Pod, dst: Pod | Address, port: int, protocol: str = "TCP") -> bool:
        if not self._admits(src, dst, port, protocol, "Egress"):
            return False
        return isinstance(dst, Address) or self._admits(dst, src, port, protocol, "Ingress")

    def _admits(self, pod: Pod, other: Pod | Address, port: int, protocol: str,
                direction: str) -> bool:
        selecting = [p for p in self.policies
                     if p["metadata"]["namespace"] == pod.namespace
                     and direction in _policy_types(p)
                     and matches(p["spec"].get("podSelector", {}), pod.labels)]
        if not selecting:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            ns = policy["metadata"]["namespace"]
            for rule in policy["spec"].get(key) or ():
                if not _port_ok(rule.get("ports"), port, protocol):
                    continue
                peers = rule.get(peers_key)
                if not peers or any(self._peer(peer, ns, other) for peer in peers):
                    return True
        return False

    def _peer(self, peer: Mapping[str, Any], policy_ns: str, other: Pod | Address) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, Address):
                return False  # pods here have no IPs; cluster ranges are excluded anyway
            ip = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            return ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except", ()))
        if isinstance(other, Address):
            return False
        if "namespaceSelector" in peer:
            if not matches(peer["namespaceSelector"], self.namespace_labels(other.namespace)):
                return False
        elif other.namespace != policy_ns:
            return False
        return matches(peer.get("podSelector", {}), other.labels)


def _policy_types(policy: Manifest) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _port_ok(ports: Iterable[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        assert isinstance(p["port"], int), f"named ports are not modelled: {p}"
        if p["port"] <= port <= p.get("endPort", p["port"]):
            return True
    return False


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels and matchExpressions; {} matches everything."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or ():
        key, op, values = e["key"], e["operator"], e.get("values", [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def pods_of(manifests: Iterable[Manifest], namespace: str) -> list[tuple[Manifest, Pod]]:
    """One pod per workload (replicas share labels), with its declared container ports."""
    out = []
    for m in manifests:
        if m["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        template = m["spec"]["template"]
        ports = tuple((p["containerPort"], p.get("protocol", "TCP"))
                      for c in template["spec"]["containers"] for p in c.get("ports", ()))
        out.append((m, Pod(m["metadata"]["name"], m["metadata"].get("namespace", namespace),
                           dict(template["metadata"]["labels"]), ports)))
    return out
