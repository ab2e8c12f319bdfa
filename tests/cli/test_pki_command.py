"""`arbiter pki`: what it writes is what the servers load, private keys stay private, and a
second `init` never overwrites a plane's CA."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.platform.config import services
from arbiter.platform.peers import Peer, TlsMaterial


def test_init_writes_a_loadable_certificate_per_service(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    result = CliRunner().invoke(app, ["pki", "init", str(folder), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert sorted(c["service"] for c in made["certificates"]) == sorted(services())
    for entry in made["certificates"]:
        material = TlsMaterial.load(made["ca_path"], entry["cert_path"], entry["key_path"])
        assert material.identity() == Peer(entry["service"], "acme")
        assert stat.S_IMODE(Path(entry["key_path"]).stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "ca-key.pem").stat().st_mode) == 0o600
    again = CliRunner().invoke(app, ["pki", "init", str(folder), "--tenant", "acme"])
    assert again.exit_code == 2 and "exists" in again.output


def test_issue_adds_one_from_the_same_ca_and_refuses_unknown_services(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    CliRunner().invoke(app, ["pki", "init", str(folder), "--tenant", "acme"])
    before = (folder / "saga.pem").read_bytes()
    result = CliRunner().invoke(app, ["pki", "issue", str(folder), "--service", "saga",
                                      "--tenant", "acme", "--host", "saga.desk-acme.svc"])
    assert result.exit_code == 0, result.output
    assert (folder / "saga.pem").read_bytes() != before
    TlsMaterial.load(str(folder / "ca.pem"), str(folder / "saga.pem"),
                     str(folder / "saga-key.pem"))
    bad = CliRunner().invoke(app, ["pki", "issue", str(folder), "--service", "sagaa",
                                   "--tenant", "acme"])
    assert bad.exit_code == 2
    assert "'sagaa' is not one of 'gateway-kalshi'" in " ".join(
        re.sub("[│╭╮╰╯─]", " ", bad.output).split())
    bad_tenant = CliRunner().invoke(app, ["pki", "init", str(tmp_path / "x"), "--tenant",
                                          "Not A Tenant"])
    assert bad_tenant.exit_code == 2
