"""The character-slot widget in a real headless Chromium against the real server, on
the front end the host bundles (1.32.9 on 0.3.75, 1.49.6 on 0.33.0) and on a current
one (1.58.1), with the Nodes 2.0 renderer off and on."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from devtools.comfy_host import ComfyServer
from devtools.graphs import write_t2i_models

from newbie.loading import load_gemma_tokenizer
from newbie.prompt import DEFAULT_SYSTEM_PROMPT
from newbie.prompt import parse_json_prompt, parse_xml

HERE = Path(__file__).parent
HOST = Path(os.environ["NEWBIE_HOST"])
NEW_FRONTEND = HOST / "frontend" / "comfyui_frontend_package" / "static"
SCREENSHOT = HERE.parents[1] / "docs" / "widget.png"
# Typed into the editor: Danbooru text that must reach the XML (and Gemma) as typed.
APPEARANCE = r"long_hair, <red> & blue, >_<, <3, rem_\(re:zero\)"


@pytest.fixture(scope="module", params=["bundled", "current"])
def server(request, comfy, tiny, tmp_path_factory):
    """The session server for the bundled front end, one of its own for the current
    (both with the tiny models: the preview counts tokens with their Gemma tokenizer)."""
    if request.param == "bundled":
        yield comfy
        return
    if not NEW_FRONTEND.is_dir():
        pytest.fail(f"current front end missing at {NEW_FRONTEND}; rerun scripts/setup_host.sh")
    srv = ComfyServer(tmp_path_factory.mktemp("comfy_fe"),
                      extra_args=["--front-end-root", str(NEW_FRONTEND)]).start()
    write_t2i_models(srv)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module", params=["classic", "nodes2"])
def report(request, server, tmp_path_factory):
    vue = "on" if request.param == "nodes2" else "off"
    shot = tmp_path_factory.mktemp("shot") / "widget.png"
    env = dict(os.environ, NODE_MODULES=str(HOST / "node" / "node_modules"))
    out = subprocess.run(["node", str(HERE / "widget_flow.mjs"), server.url, str(shot),
                          vue], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert "failure" not in data, data["failure"] + "\n" + json.dumps(data["steps"], indent=1)
    # NEWBIE_UPDATE_SCREENSHOT=1 refreshes the README's picture (bundled front end).
    if (os.environ.get("NEWBIE_UPDATE_SCREENSHOT") and vue == "off"
            and "--front-end-root" not in server.extra_args):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
    data["vue"] = vue
    return data


def test_extension_loads_cleanly_and_stays_on_loopback(report):
    assert report["steps"]["extensionLoaded"]
    assert report["pageErrors"] == []
    assert report["offLoopback"] == []


def test_the_renderer_asked_for_is_the_one_running(report):
    assert report["steps"]["vueNodes"] in ((report["vue"] == "on"), None)


def test_the_raw_json_input_stays_hidden(report):
    assert report["steps"]["visibleRawState"] == 0


def test_slots_are_edited_reordered_and_keyboard_usable(report):
    steps = report["steps"]
    assert steps["slotsAfterKeyboardAdd"] == 3
    assert steps["names"] == ["bob", "alice"]


def test_save_and_api_prompt_carry_the_json(report):
    saved = report["steps"]["saved"]
    state = json.loads(saved["apiSlots"])
    assert state["version"] == 2
    assert [c["n"] for c in state["characters"]] == ["bob", "alice"]
    assert state["characters"][1]["appearance"] == APPEARANCE
    assert "newbie_character_slots" not in saved["properties"]  # one source of truth
    assert saved["apiSlots"] in saved["widgetsValues"]


def test_reload_gives_the_same_state(report):
    steps = report["steps"]
    assert steps["reloadedNames"] == ["bob", "alice"]
    assert steps["reloadedSlots"] == steps["saved"]["apiSlots"]
    node = next(n for n in steps["reloadedGraph"]["nodes"] if n["type"] == "NewBieXMLPrompt")
    assert node["widgets_values"] == steps["saved"]["widgetsValues"]


def test_a_value_set_by_a_script_is_shown_saved_and_reloaded(report):
    steps = report["steps"]
    assert steps["scriptedShown"] == ["carol", "dave"]
    assert steps["scriptedReloaded"] == ["carol", "dave"]


def test_a_hand_edited_save_keeps_the_edit_over_an_old_copy(report):
    assert report["steps"]["handEditedNames"] == ["erin"]
    assert report["steps"]["handEditedProperty"] is None  # the old copy is dropped


def test_queued_xml_matches_the_preview(report):
    steps = report["steps"]
    xml = steps["executedXml"]
    assert xml == steps["preview"]
    prompt = parse_xml(xml, strict=True)
    assert [c.n for c in prompt.characters] == ["bob", "alice"]
    assert f"<appearance>{APPEARANCE}</appearance>" in xml  # as typed, no entities
    assert prompt.characters[1].appearance == APPEARANCE  # and read back the same


def test_the_preview_counts_gemma_tokens_with_the_real_tokenizer(report, server):
    """The count the editor shows is the workflow's Gemma tokenizer on the XML system
    prompt (auto, for an XML prompt) + the previewed XML, BOS included."""
    steps = report["steps"]
    tokenizer = load_gemma_tokenizer(server.models / "text_encoders" / "gemma_t2i.safetensors")
    count = len(tokenizer.ids(DEFAULT_SYSTEM_PROMPT + steps["preview"]))
    assert steps["tokens"] == (f"{count} / 512 Gemma tokens; system prompt: xml (auto: XML "
                               "prompt)")


def test_the_encode_node_shows_the_system_prompt_and_the_cut(report):
    info = report["steps"]["encodeInfo"]
    assert info and info.startswith("system prompt: textual (auto: tags or natural language)")
    assert "tokens dropped, as in training" in info


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


def test_a_box_drawn_with_the_mouse_lands_in_the_save_and_the_api_prompt(report):
    steps = report["steps"]
    canvas = steps["boxCanvas"]
    assert abs(canvas["width"] / canvas["height"] - 2) < 0.05  # the latent's 1024x512
    x1, y1, x2, y2 = steps["drawnBox"]  # dragged from (50%, 20%) to (90%, 80%)
    assert all(abs(a - b) <= 15 for a, b in zip((x1, y1, x2, y2), (500, 200, 900, 800), strict=True))
    assert steps["nudgedBox"] == [x1 - 10, y1, x2 - 10, y2]  # ArrowLeft: 10 units
    api = json.loads(steps["boxSaved"]["apiSlots"])
    assert [c.get("box") for c in api["characters"]] == [None, steps["nudgedBox"]]
    assert steps["boxSaved"]["apiSlots"] in steps["boxSaved"]["widgetsValues"]


def test_the_json_form_round_trips_through_the_editor(report):
    steps = report["steps"]
    form = parse_json_prompt(steps["boxPreview"])  # auto: the JSON form, as a box is set
    assert [(c.name, c.bbox) for c in form.characters] == [
        ("left_girl", None), ("right_girl", tuple(steps["nudgedBox"]))]
    assert [c.n for c in parse_xml(form.tags, strict=True).characters] == ["left_girl",
                                                                            "right_girl"]
    assert steps["importedNames"] == ["left_girl", "right_girl"]
    assert [c.get("box") for c in steps["imported"]["characters"]] == [None, steps["nudgedBox"]]
    assert steps["imported"]["version"] == 2
    # XML in, the same XML out: the official example imported, then built by the node.
    official = (HERE.parent / "data" / "official_example.xml").read_text()
    assert steps["importedXmlPreview"] == official.strip()


def test_a_bad_import_says_where_and_loses_nothing(report):
    steps = report["steps"]
    assert "unknown key 'nmae' in character_2" in steps["importError"]
    assert "line" in steps["importError"] and '"nmae"' in steps["importErrorKept"]
    assert steps["importErrorSlots"] in ("", None)  # the fresh node's slots are untouched


def test_slots_are_numbered_and_previewed_as_they_run_after_chained_characters(report):
    steps = report["steps"]
    assert steps["chainedHeader"] == "Character 3"
    assert "1 slot, after 2 chained characters" in steps["chainedCount"]
    assert [c.n for c in parse_xml(steps["chainedPreview"], strict=True).characters] == [
        "chain_a", "chain_b", "slot_c"]
    assert steps["chainedRun"] == steps["chainedPreview"]
