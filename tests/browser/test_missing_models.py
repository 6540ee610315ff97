"""The model links the examples carry, read by the front end itself: on a server
without the files, the current front end's missing-model check (1.58.1) names each of
the four with its download link and folder; with the files there, none."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from devtools.comfy_host import ComfyServer
from devtools.example_workflows import MODEL_LINKS
from devtools.model_set import write_tiny_model_set

HERE = Path(__file__).parent
HOST = Path(os.environ["NEWBIE_HOST"])
NEW_FRONTEND = HOST / "frontend" / "comfyui_frontend_package" / "static"
EXAMPLE = HERE.parents[1] / "example_workflows" / "newbie_t2i_two_characters.json"


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    srv = ComfyServer(tmp_path_factory.mktemp("comfy_bare"),
                      extra_args=["--front-end-root", str(NEW_FRONTEND)]).start()
    try:
        yield srv
    finally:
        srv.stop()


def missing(server) -> list[dict]:
    env = dict(os.environ, NODE_MODULES=str(HOST / "node" / "node_modules"))
    out = subprocess.run(["node", str(HERE / "missing_models.mjs"), server.url, str(EXAMPLE)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "failure" not in report, report["failure"]
    assert report["missing"] is not None, "this front end has no missing-model check"
    return report["missing"]


def test_the_front_end_offers_each_missing_file_for_download(bare_server):
    found = {m["name"]: (m["url"], m["directory"]) for m in missing(bare_server)}
    assert found == MODEL_LINKS, found


def test_with_the_files_in_place_nothing_is_missing(bare_server):
    write_tiny_model_set(bare_server.models)
    assert missing(bare_server) == []
