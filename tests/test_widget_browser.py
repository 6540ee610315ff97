"""The character-slot widget in a real headless Chromium against the real server,
on the bundled front end (1.32.9) and on a current one."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from comfy_host import ComfyServer

from newbie.prompt import parse_xml

HERE = Path(__file__).parent
HOST = Path(os.environ["NEWBIE_HOST"])
NEW_FRONTEND = HOST / "frontend" / "comfyui_frontend_package" / "static"
SCREENSHOT = HERE.parent / "docs" / "widget.png"


@pytest.fixture(scope="module", params=["bundled", "current"])
def server(request, comfy, tmp_path_factory):
    if request.param == "bundled":
        yield comfy
        return
    if not NEW_FRONTEND.is_dir():
        pytest.fail(f"current front end missing at {NEW_FRONTEND}; rerun scripts/setup_host.sh")
    srv = ComfyServer(tmp_path_factory.mktemp("comfy_fe"),
                      extra_args=["--front-end-root", str(NEW_FRONTEND)]).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def report(server, tmp_path_factory):
    shot = tmp_path_factory.mktemp("shot") / "widget.png"
    env = dict(os.environ, NODE_MODULES=str(HOST / "node" / "node_modules"))
    out = subprocess.run(["node", str(HERE / "browser" / "widget_flow.mjs"), server.url, str(shot)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert "failure" not in data, data["failure"] + "\n" + json.dumps(data["steps"], indent=1)
    # NEWBIE_UPDATE_SCREENSHOT=1 refreshes the README's picture (bundled front end).
    if os.environ.get("NEWBIE_UPDATE_SCREENSHOT") and "--front-end-root" not in server.extra_args:
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
    return data


def test_extension_loads_cleanly_and_stays_on_loopback(report):
    assert report["steps"]["extensionLoaded"]
    assert report["pageErrors"] == []
    assert report["offLoopback"] == []


def test_slots_are_edited_reordered_and_keyboard_usable(report):
    steps = report["steps"]
    assert steps["slotsAfterKeyboardAdd"] == 3
    assert steps["names"] == ["bob", "alice"]


def test_save_and_api_prompt_carry_the_json(report):
    saved = report["steps"]["saved"]
    state = json.loads(saved["apiSlots"])
    assert state["version"] == 1
    assert [c["n"] for c in state["characters"]] == ["bob", "alice"]
    assert state["characters"][1]["appearance"] == "long_hair, <red> & blue"
    assert saved["properties"]["newbie_character_slots"] == saved["apiSlots"]
    assert saved["apiSlots"] in saved["widgetsValues"]


def test_reload_gives_the_same_state(report):
    steps = report["steps"]
    assert steps["reloadedNames"] == ["bob", "alice"]
    assert steps["reloadedSlots"] == steps["saved"]["apiSlots"]


def test_queued_xml_matches_the_preview(report):
    steps = report["steps"]
    xml = steps["executedXml"]
    assert xml == steps["preview"]
    prompt = parse_xml(xml, strict=True)
    assert [c.n for c in prompt.characters] == ["bob", "alice"]
    assert "&lt;red&gt; &amp; blue" in xml


def test_old_and_shifted_saves_load_by_name(report):
    assert report["steps"]["migratedNames"] == ["old_zoe"]
    assert report["steps"]["shiftedNames"] == ["bob", "alice"]


def test_malformed_json_is_shown_kept_and_refused_on_run(report):
    steps = report["steps"]
    assert "not valid JSON" in steps["brokenMessage"]
    assert steps["brokenKept"] == '{"version": 1, "characters": [{"n": "half'
    queue = steps["brokenQueue"]
    assert queue["status"] == 400 or queue["body"].get("node_errors")
    assert "character slots are not valid JSON" in json.dumps(queue["body"])
