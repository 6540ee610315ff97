"""Every example workflow (UI format, as the editor saves it) converts to API form and
runs on the real server, on a random model set under the official file names."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from devtools.model_set import write_tiny_model_set
from devtools.workflow import SKIPPED_TYPES, ui_to_api

from newbie.prompt import parse_xml

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = (REPO / "tests" / "data" / "official_example.xml").read_text()
WORKFLOWS = sorted((REPO / "example_workflows").glob("*.json"))
EXPECTED_SIZE = {"newbie_t2i_two_characters": (1024, 1024),
                 "newbie_hires_fix_latent_upscale": (1024, 1024),
                 "newbie_t2i_core_vae_decode": (1024, 1024),
                 "newbie_custom_sampler_guider": (1024, 1024),
                 "newbie_t2i_comfy_template_prompt": (1024, 1536),
                 "newbie_prompt_writer_slots": (1024, 1024)}
# What each example's NewBie Text Encode says about its system prompt.
SYSTEM_PROMPT_INFO = {"newbie_t2i_comfy_template_prompt": "system prompt: from the prompt ("}


@pytest.fixture(scope="module")
def model_set(comfy):
    # The old single-file name too: the workflow saved before the standard model uses it.
    write_tiny_model_set(comfy.models, {"model": "NewBie-Image-Exp0.1.safetensors"})
    return write_tiny_model_set(comfy.models)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_example_workflow_runs(comfy, model_set, path):
    info = comfy.get_json("/object_info")
    workflow = json.loads(path.read_text())
    missing = {node["type"] for node in workflow["nodes"]} - set(info) - SKIPPED_TYPES
    if missing:  # another pack's nodes: run where that pack is (tests/server/test_distributed.py)
        pytest.skip(f"{path.stem} needs nodes of another pack: {sorted(missing)}")
    prompt = ui_to_api(workflow, info)
    result = comfy.run(prompt, timeout=900)
    assert result.status == "success", result.error
    texts = [o["text"][0] for node, o in result.outputs.items()
             if prompt[node]["class_type"] == "PreviewAny"]
    if path.stem == "newbie_prompt_writer_slots":  # random weights: any text in the layout
        assert len(texts) == 1 and parse_xml(texts[0], strict=True) is not None
    elif path.stem != "newbie_t2i_comfy_template_prompt":
        assert texts == [OFFICIAL]  # the official two-character XML
    info = [o["text"][0] for node, o in result.outputs.items()
            if prompt[node]["class_type"] == "NewBieTextEncode"]
    expected = SYSTEM_PROMPT_INFO.get(path.stem, "system prompt: xml (auto: XML prompt); Gemma: ")
    assert all(i.startswith(expected) for i in info)
    images = [img for o in result.outputs.values() for img in o.get("images", [])]
    if path.stem in EXPECTED_SIZE:
        assert len(images) == 1
        image = Image.open(io.BytesIO(comfy.view(images[0])))
        assert image.size == EXPECTED_SIZE[path.stem]
        assert np.asarray(image).std() > 0.5


def test_a_workflow_saved_before_the_standard_model_still_runs(comfy, model_set):
    """Saved when the loaders gave NEWBIE_MODEL, NEWBIE_TEXT_ENCODERS and NEWBIE_VAE (the
    links still say so): links are kept by slot, so it converts and runs with the MODEL,
    CLIP and VAE sockets; made small here."""
    workflow = json.loads((REPO / "tests" / "data" / "workflow_before_standard_model.json")
                          .read_text())
    for old in ("NEWBIE_MODEL", "NEWBIE_TEXT_ENCODERS", "NEWBIE_VAE"):
        assert f'"{old}"' in json.dumps(workflow["links"]), old
    for node in workflow["nodes"]:
        if node["type"] == "NewBieEmptyLatent":
            node["widgets_values"] = ["custom", 128, 96, 1]
        if node["type"] == "NewBieSampler":
            node["widgets_values"][2] = 2  # steps
    prompt = ui_to_api(workflow, comfy.get_json("/object_info"))
    result = comfy.run(prompt, timeout=900)
    assert result.status == "success", result.error
    images = [img for o in result.outputs.values() for img in o.get("images", [])]
    assert Image.open(io.BytesIO(comfy.view(images[0]))).size == (128, 96)


def test_the_front_end_keeps_the_old_model_link(comfy, model_set):
    """The bundled front end loads the saved workflow with its old model, text-encoder and
    VAE links still connecting the loaders to their nodes, and what it queues runs."""
    import os
    import subprocess

    host = Path(os.environ["NEWBIE_HOST"])
    out = subprocess.run(["node", str(REPO / "tests" / "browser" / "load_workflow.mjs"), comfy.url,
                          str(REPO / "tests" / "data" / "workflow_before_standard_model.json")],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, NODE_MODULES=str(host / "node" / "node_modules")))
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    prompt = loaded["output"]
    for node, socket, loader in (("NewBieSampler", "model", "NewBieModelLoader"),
                                 ("NewBieTextEncode", "text_encoders", "NewBieTextEncoderLoader"),
                                 ("NewBieVAEDecode", "vae", "NewBieVAELoader")):
        consumer = next(n for n in prompt.values() if n["class_type"] == node)
        assert prompt[str(consumer["inputs"][socket][0])]["class_type"] == loader, node
    for node in prompt.values():
        if node["class_type"] == "NewBieEmptyLatent":
            node["inputs"].update(resolution="custom", width=128, height=96)
        if node["class_type"] == "NewBieSampler":
            node["inputs"]["steps"] = 2
    result = comfy.run(prompt, timeout=900)
    assert result.status == "success", result.error
