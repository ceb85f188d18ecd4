"""The images, built once per session: the project's image on the local Python base, and
the stand-ins the deployment recipe runs on. Their build times are reported at the end."""

import pytest

from tests.support import podman


@pytest.fixture(scope="session")
def app_image() -> str:
    return podman.app_image()


@pytest.fixture(scope="session")
def standins() -> dict[str, str]:
    return {name: podman.standin(name) for name in ("postgres", "pgbouncer", "haproxy")}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if podman.FIGURES:
        terminalreporter.section("container images")
        for what, figure in podman.FIGURES.items():
            terminalreporter.write_line(f"{what}: {figure}")
