"""Images built with a real, rootful podman, from nothing but the machine's Debian mirror.

No registry is needed. `debian_base()` is `debootstrap --variant=minbase bookworm` from the
mirror in the machine's apt sources, imported into podman; `python_base()` adds Debian's
python3 and python3-venv (and the host's CA certificates, for pip inside builds) and stands
in for `python:3.11-slim-bookworm`; `standin(name)` builds one of tests/image/recipes/<name>
(postgres, pgbouncer, haproxy: Debian's packages behind the public images' interfaces).
Each is tagged with a digest of its recipe, so it is built once and reused while the recipe is
unchanged. `app_image()` builds the project's own Dockerfile, unchanged, on the Python base.

Every podman command runs with CONTAINERS_CONF=tests/image/containers.conf.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE_TESTS = ROOT / "tests" / "image"
RECIPES = IMAGE_TESTS / "recipes"
CONTAINERS_CONF = IMAGE_TESTS / "containers.conf"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
SUITE = "bookworm"
REPOSITORY = "localhost/catalog-test"   # every image the tests build is named under it
APP_IMAGE = "localhost/tenant-catalog:test"
BUILD_TIMEOUT = 900

# Build times of this session, for the report at the end of the run.
FIGURES: dict[str, str] = {}


def podman_path() -> str:
    found = shutil.which("podman")
    if found is None:
        pytest.fail("`podman` is not installed: apt-get install podman runc debootstrap uidmap "
                    "slirp4netns fuse-overlayfs containernetworking-plugins (./run test does)")
    return found


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), **extra}


def podman(*args: str, check: bool = True, timeout: float = 120,
           input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; on failure (with `check`), fail the test with its output."""
    result = subprocess.run([podman_path(), *args], env=environment(), input=input,
                            capture_output=True, timeout=timeout, check=False)
    out = result.stdout.decode(errors="replace")
    err = result.stderr.decode(errors="replace")
    if check and result.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} exited {result.returncode}:\n{out[-3000:]}"
                    f"\n{err[-3000:]}")
    return subprocess.CompletedProcess(result.args, result.returncode, out, err)


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def image_size(name: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())


def inspect(name: str, kind: str = "container") -> dict:
    return json.loads(podman(kind, "inspect", name).stdout)[0]


# --- the local base images --------------------------------------------------------------------


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt uses for SUITE (deb822 or one-line sources)."""
    candidates: list[tuple[str, list[str]]] = []
    files = sorted((sources / "sources.list.d").glob("*.sources")) if (
        sources / "sources.list.d").is_dir() else []
    for path in files:
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                for uri in fields.get("URIs", "").split():
                    candidates.append((uri, fields.get("Suites", "").split()))
    lists = [sources / "sources.list"]
    if (sources / "sources.list.d").is_dir():
        lists += sorted((sources / "sources.list.d").glob("*.list"))
    for path in lists:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line.strip())
                if match:
                    candidates.append((match.group(1), [match.group(2)]))
    for uri, suites in candidates:
        if SUITE in suites and uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    raise RuntimeError(f"podman leg: no Debian {SUITE} archive in {sources}'s apt sources"
                       " to debootstrap the base image from")


def digest(*parts: bytes | str | Path) -> str:
    sha = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for file in files:
                sha.update(str(file.relative_to(ROOT) if file.is_relative_to(ROOT)
                               else file.name).encode())
                sha.update(file.read_bytes())
        else:
            sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()[:16]


def _host_certificates() -> list[Path]:
    return sorted(HOST_CA_DIR.glob("*.crt")) if HOST_CA_DIR.is_dir() else []


DEBOOTSTRAP = ["debootstrap", "--variant=minbase", SUITE]
# As debian:bookworm-slim does: no documentation, manual pages or translations, now or from
# any package installed later (copyright files stay).
SLIM_DPKG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""


def _slim(root: Path) -> None:
    (root / "etc/dpkg/dpkg.cfg.d/slim").write_text(SLIM_DPKG)
    for top in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                "usr/share/lintian", "var/cache/apt/archives", "var/lib/apt/lists"):
        for path in sorted((root / top).rglob("*"), reverse=True):
            keep = path.name in ("copyright", "locale.alias", "lock", "partial") and (
                not path.is_dir() or path.name == "partial")
            if keep:
                continue
            if path.is_dir() and not path.is_symlink():
                with contextlib.suppress(OSError):  # not empty: it holds what we keep
                    path.rmdir()
            else:
                path.unlink()


def debian_base() -> str:
    """`debootstrap --variant=minbase bookworm` imported into podman, built once per recipe."""
    name = f"{REPOSITORY}/debian:{digest(' '.join(DEBOOTSTRAP), SLIM_DPKG)}"
    if image_exists(name):
        return name
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).is_file():
        pytest.fail("`debootstrap` is not installed: apt-get install debootstrap (./run test does)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="catalog-rootfs-") as target:
        result = subprocess.run([debootstrap, *DEBOOTSTRAP[1:], target, debian_mirror()],
                                capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                                check=False)
        if result.returncode != 0:
            pytest.fail(f"debootstrap failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        _slim(Path(target))
        tar = subprocess.run(["tar", "-C", target, "--numeric-owner", "-c", "."],
                             capture_output=True, timeout=300, check=True).stdout
    podman("import", "--change", "CMD [\"/bin/bash\"]", "-", name, input=tar, timeout=300)
    FIGURES["debian base (debootstrap + import)"] = f"{time.monotonic() - started:.1f} s"
    return name


def build(name: str, context: Path, containerfile: Path | None = None, *,
          args: dict[str, str] | None = None, figure: str | None = None) -> str:
    """`podman build --format docker` (HEALTHCHECK kept) with the host's network."""
    command = ["build", "--format", "docker", "--network", "host", "--tag", name]
    if containerfile is not None:
        command += ["--file", str(containerfile)]
    for key, value in (args or {}).items():
        command += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    podman(*command, str(context), timeout=BUILD_TIMEOUT)
    if figure:
        FIGURES[figure] = f"{time.monotonic() - started:.1f} s"
    return name


def python_base() -> str:
    """Debian's python3 + python3-venv on the Debian base: the Dockerfile's PYTHON_IMAGE."""
    base = debian_base()
    recipe = RECIPES / "python"
    certificates = _host_certificates()
    name = f"{REPOSITORY}/python:{digest(base, recipe, *certificates)}"
    if image_exists(name):
        return name
    with tempfile.TemporaryDirectory(prefix="catalog-python-") as context:
        shutil.copytree(recipe, context, dirs_exist_ok=True)
        (Path(context) / "ca-certificates").mkdir(exist_ok=True)
        for certificate in certificates:
            shutil.copy(certificate, Path(context) / "ca-certificates" / certificate.name)
        return build(name, Path(context), args={"BASE": base}, figure="python base")


def standin(service: str) -> str:
    """A stand-in for a public image (postgres, pgbouncer, haproxy) from Debian's packages."""
    base = debian_base()
    recipe = RECIPES / service
    name = f"{REPOSITORY}/{service}:{digest(base, recipe)}"
    if image_exists(name):
        return name
    return build(name, recipe, args={"BASE": base}, figure=f"{service} stand-in")


def app_image() -> str:
    """The project's Dockerfile, unchanged, with PYTHON_IMAGE set to the local Python base."""
    return build(APP_IMAGE, ROOT, ROOT / "Dockerfile", args={"PYTHON_IMAGE": python_base()},
                 figure="application image (podman build)")


# --- containers -------------------------------------------------------------------------------


@contextlib.contextmanager
def container(image: str, *args: str, name: str, options: tuple[str, ...] = ()) -> Iterator[str]:
    """`podman run -d` a container; removed (forcibly, by its name) when the block ends."""
    podman("run", "-d", "--name", name, *options, image, *args)
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "5", name, check=False, timeout=60)


def logs(name: str, lines: int | None = 60) -> str:
    """The container's output: its last `lines` lines, or all of it."""
    tail = ("--tail", str(lines)) if lines is not None else ()
    result = podman("logs", *tail, name, check=False)
    return result.stdout + result.stderr
