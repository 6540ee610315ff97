"""The unit tier: the library alone. A test here that asks for ComfyUI fails, and the
session fails if anything imported ComfyUI, so the tier keeps running with torch and
the requirements alone."""
import sys

import pytest


def _no_comfyui(name):
    @pytest.fixture(name=name)
    def refuse():
        pytest.fail(f"unit tests run without ComfyUI; a test that needs '{name}' belongs in "
                    "tests/in_process, tests/server or tests/browser")
    return refuse


comfy = _no_comfyui("comfy")
comfy_lib = _no_comfyui("comfy_lib")
pack = _no_comfyui("pack")
host = _no_comfyui("host")


def pytest_sessionfinish(session, exitstatus):
    imported = sorted(m for m in sys.modules if m.split(".")[0] in
                      ("comfy", "comfy_api", "folder_paths", "comfy_glue", "nodes"))
    if imported:
        session.exitstatus = 1
        print(f"\nunit tier imported ComfyUI or the pack's ComfyUI side: {imported[:5]}")
