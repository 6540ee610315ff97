import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfy_host import ComfyServer  # noqa: E402


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
