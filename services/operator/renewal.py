"""kopf wiring of certificate renewal: one daemon per Tenant that, every check interval,
renews its certificates before they end (chart mode; cert-manager renews its own) and rolls
the pods whose Secret now holds another certificate than the one they started with."""

from __future__ import annotations

from typing import Any

import kopf

from arbiter.operator import issuer
from arbiter.operator.children import build_children
from arbiter.operator.crd import GROUP, PLURAL, VERSION
from arbiter.operator.kube import KubeError
from arbiter.operator.validation import validate_tenant


@kopf.daemon(GROUP, VERSION, PLURAL, id="certificates")
async def renew_certificates(body: kopf.Body, name: str, namespace: str,
                             stopped: kopf.DaemonStopped, memo: kopf.Memo,
                             logger: kopf.Logger, **_: Any) -> None:
    settings = memo.platform.tls
    # The reconcile handler issued them on create and resume: look again one interval on
    # (the wait ends early when the Tenant goes or the operator stops).
    while settings.enabled and not await stopped.wait(settings.check_interval):
        # An invalid spec is reported by the reconcile handler; its pods keep what they hold.
        if not validate_tenant(name, body.get("spec") or {}):
            try:
                children = build_children(body, memo.platform)
                serials = await issuer.ensure_tenant(memo.kube, body, children, settings)
                rolled = await issuer.roll(memo.kube, namespace, serials)
                if rolled:
                    logger.warning(f"Rolled onto renewed certificates: {', '.join(rolled)}")
            except (KubeError, issuer.IssuerError) as exc:
                if not stopped:  # stopping: the client may be closed already
                    logger.error(f"Certificates not renewed: {exc}")
