"""Fixtures for every tier. Nothing here builds or imports ComfyUI until a test asks
for one of the host fixtures (`comfy`, `comfy_lib`, `pack`, `host`): the unit tier
(tests/unit) never does, the host tiers (tests/in_process, tests/server,
tests/browser) run on each ComfyUI host scripts/test.sh prepares."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def host():
    """The ComfyUI test host (scripts/setup_host.sh) this run uses: its version."""
    from devtools.comfy_host import host_version

    return host_version()


def pytest_report_header(config):
    if os.environ.get("NEWBIE_HOST"):
        from devtools.comfy_host import host_version

        return f"ComfyUI test host: {host_version()} ({os.environ['NEWBIE_HOST']})"
    return None


@pytest.fixture(scope="session")
def comfy_lib():
    """The test host's ComfyUI imported in this process, set up as `main.py --cpu`."""
    from devtools.comfy_host import comfy_in_process

    return comfy_in_process()


@pytest.fixture(scope="session")
def pack(comfy_lib):
    """The pack imported in process as ComfyUI imports a custom node folder."""
    from devtools.comfy_host import import_pack

    return import_pack()


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """One real ComfyUI server with the pack for the whole test session."""
    from devtools.comfy_host import ComfyServer

    # Latent previews on, as users run it, so the sampler's previews are exercised.
    server = ComfyServer(tmp_path_factory.mktemp("comfy"),
                         extra_args=["--preview-method", "latent2rgb"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tiny(comfy):
    """Tiny t2i models in the session server's model folders."""
    from devtools.graphs import write_t2i_models

    return write_t2i_models(comfy)
