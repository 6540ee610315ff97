"""Every example workflow (UI format) converts to API form and runs on the real server."""
import json
from pathlib import Path

import pytest
from workflow import ui_to_api

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = (REPO / "tests" / "data" / "official_example.xml").read_text()
WORKFLOWS = sorted((REPO / "example_workflows").glob("*.json"))


def test_there_are_example_workflows():
    assert any(p.name == "newbie_xml_two_characters.json" for p in WORKFLOWS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_example_workflow_runs(comfy, path):
    prompt = ui_to_api(json.loads(path.read_text()), comfy.get_json("/object_info"))
    result = comfy.run(prompt)
    assert result.status == "success", result.error
    if path.stem == "newbie_xml_two_characters":
        assert [o["text"][0] for o in result.outputs.values()] == [OFFICIAL]
