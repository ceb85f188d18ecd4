"""`catalog tenants create/update … --rate R --burst B`, on an embedded SQLite file."""

import json
import os
import subprocess
import sys
from pathlib import Path

CATALOG = str(Path(sys.executable).with_name("catalog"))


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env["CATALOG_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return subprocess.run([CATALOG, *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_the_cli_sets_and_clears_a_tenants_rate_limit(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "sync").returncode == 0
    created = run(tmp_path, "tenants", "create", "limited", "--rate", "2.5", "--burst", "10")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["tenant"]["rate_limit"] == {"rate": 2.5, "burst": 10}
    plain = json.loads(run(tmp_path, "tenants", "create", "plain").stdout)
    assert plain["tenant"]["rate_limit"] is None

    updated = run(tmp_path, "tenants", "update", "plain", "--rate", "7", "--burst", "3")
    assert json.loads(updated.stdout)["rate_limit"] == {"rate": 7.0, "burst": 3}
    renamed = run(tmp_path, "tenants", "update", "plain", "--name", "Plain Ltd")
    assert json.loads(renamed.stdout)["name"] == "Plain Ltd"
    assert json.loads(renamed.stdout)["rate_limit"] == {"rate": 7.0, "burst": 3}  # kept
    cleared = run(tmp_path, "tenants", "update", "plain", "--default-limit")
    assert json.loads(cleared.stdout)["rate_limit"] is None
    listed = [json.loads(line) for line in run(tmp_path, "tenants", "list").stdout.splitlines()]
    assert {t["slug"]: t["rate_limit"] for t in listed} == {
        "limited": {"rate": 2.5, "burst": 10}, "plain": None}

    for bad in (["--rate", "5"], ["--rate", "0", "--burst", "1"], ["--rate", "1", "--burst", "0"],
                ["--default-limit", "--rate", "1", "--burst", "1"]):
        refused = run(tmp_path, "tenants", "update", "plain", *bad)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, bad
    missing = run(tmp_path, "tenants", "update", "nobody", "--name", "x")
    assert missing.returncode == 1 and "was not found" in missing.stderr
