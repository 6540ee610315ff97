import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfy_host import ComfyServer, comfy_in_process, host_version, import_pack  # noqa: E402

# Tests that use one of these touch ComfyUI; they are marked `comfy` and run on every
# host (scripts/test.sh runs the rest on the first host only).
COMFY_FIXTURES = {"comfy", "comfy_lib", "host"}
_running: dict = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if COMFY_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.comfy)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["item"] = item


@pytest.fixture(scope="session", autouse=True)
def _unmarked_tests_cannot_start_comfyui():
    """A test that starts ComfyUI without the `comfy` mark would silently run on one
    host only: refuse it."""
    start = ComfyServer.start

    def guarded(self, *args, **kwargs):
        item = _running.get("item")
        if item is not None and item.get_closest_marker("comfy") is None:
            raise RuntimeError(f"{item.nodeid} starts ComfyUI without the `comfy` mark: "
                               f"use one of the fixtures {sorted(COMFY_FIXTURES)}")
        return start(self, *args, **kwargs)

    ComfyServer.start = guarded
    yield
    ComfyServer.start = start


@pytest.fixture(scope="session")
def host():
    """The ComfyUI test host (scripts/setup_host.sh) this run uses: its version."""
    return host_version()


def pytest_report_header(config):
    return f"ComfyUI test host: {host_version()} ({os.environ.get('NEWBIE_HOST', 'built on demand')})"


@pytest.fixture(scope="session")
def comfy_lib():
    """The test host's ComfyUI imported in this process, set up as `main.py --cpu`."""
    return comfy_in_process()


@pytest.fixture(scope="session")
def pack(comfy_lib):
    """The pack imported in process as ComfyUI imports a custom node folder."""
    return import_pack()


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """One real ComfyUI server with the pack for the whole test session."""
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
    from graphs import write_t2i_models
    return write_t2i_models(comfy)
