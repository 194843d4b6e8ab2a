"""The locks must say what requirements/*.txt say: a pin edited in a .txt file without
`make lock` would otherwise install something else than the file claims, silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#\\]+)", re.MULTILINE)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {_canonical(name): version for name, version in PIN.findall(path.read_text())}
    for include in re.findall(r"^-r\s+(\S+)", path.read_text(), re.MULTILINE):
        pins.update(_pins(path.parent / include))
    return pins


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_lock_pins_every_direct_requirement_at_the_same_version(name: str) -> None:
    wanted = _pins(REQUIREMENTS / f"{name}.txt")
    locked = _pins(REQUIREMENTS / f"{name}.lock")
    drift = {n: (v, locked.get(n)) for n, v in wanted.items() if locked.get(n) != v}
    assert not drift, f"run `make lock`: {name}.lock differs from {name}.txt: {drift}"


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_locked_package_carries_a_hash(name: str) -> None:
    text = (REQUIREMENTS / f"{name}.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if e.strip() and "--hash=sha256:" not in e]
    assert not unhashed
