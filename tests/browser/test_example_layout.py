"""The example workflows as a user opens them: in a real headless Chromium, on the
front end the host bundles and on a current one, classic and Nodes 2.0. No two node
boxes overlap after load, and the slot editor's add button and slot headers are in
view without scrolling (also on a fresh XML Prompt with three slots)."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from devtools.comfy_host import ComfyServer
from devtools.example_workflows import GENERAL, to_ui
from devtools.model_set import write_tiny_model_set

from newbie.prompt.schema import Character
from newbie.prompt.slots import dump_slots

HERE = Path(__file__).parent
HOST = Path(os.environ["NEWBIE_HOST"])
NEW_FRONTEND = HOST / "frontend" / "comfyui_frontend_package" / "static"
EXAMPLES = sorted((HERE.parents[1] / "example_workflows").glob("*.json"))


def three_slots(folder: Path) -> Path:
    slots = dump_slots([Character(n=f"$character_{i}$", gender="1girl") for i in (1, 2, 3)])
    ui = to_ui([("xml", "NewBieXMLPrompt", GENERAL + ["", False, slots, "auto"], {}, None)],
               "A fresh NewBie XML Prompt with three character slots.")
    path = folder / "three_slots.json"
    path.write_text(json.dumps(ui))
    return path


@pytest.fixture(scope="module", params=["bundled", "current"])
def server(request, comfy, tmp_path_factory):
    if request.param == "bundled":
        write_tiny_model_set(comfy.models)
        yield comfy
        return
    srv = ComfyServer(tmp_path_factory.mktemp("comfy_layout"),
                      extra_args=["--front-end-root", str(NEW_FRONTEND)]).start()
    write_tiny_model_set(srv.models)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module", params=["classic", "nodes2"])
def layout(request, server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("layout")
    env = dict(os.environ, NODE_MODULES=str(HOST / "node" / "node_modules"))
    vue = "on" if request.param == "nodes2" else "off"
    out = subprocess.run(["node", str(HERE / "example_layout.mjs"), server.url, vue, str(folder),
                          *map(str, EXAMPLES), str(three_slots(folder))],
                         capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert "failure" not in data, data["failure"]
    return data


def test_no_two_nodes_of_an_example_overlap(layout):
    assert not layout["errors"], layout["errors"]
    overlapping = {name: w["overlaps"] for name, w in layout["workflows"].items() if w["overlaps"]}
    assert not overlapping, overlapping
    assert len(layout["workflows"]) == len(EXAMPLES) + 1


def test_the_slot_editor_shows_its_add_button_and_headers_without_scrolling(layout):
    for name, w in layout["workflows"].items():
        assert not w["hidden"], (name, w["hidden"])
    fresh = layout["workflows"]["three_slots"]
    assert fresh["editors"] == 1 and fresh["headers"] == 3, fresh
