"""The example workflows the README promises are there, written by the generator as
it stands (a changed generator means regenerating them)."""
import json
from pathlib import Path

from devtools.example_workflows import WORKFLOWS, workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "example_workflows"


def test_examples_cover_the_promised_workflows():
    stems = {p.stem for p in EXAMPLES.glob("*.json")}
    assert stems >= {"newbie_xml_two_characters", "newbie_t2i_two_characters",
                     "newbie_hires_fix_latent_upscale", "newbie_t2i_core_vae_decode",
                     "newbie_custom_sampler_guider", "newbie_t2i_distributed",
                     "newbie_t2i_comfy_template_prompt", "newbie_prompt_writer_slots"}
    assert stems == set(WORKFLOWS)


def test_every_example_is_what_the_generator_writes():
    for name in WORKFLOWS:
        assert json.loads((EXAMPLES / f"{name}.json").read_text()) == \
            json.loads(json.dumps(workflow(name), ensure_ascii=False)), name


def test_every_example_has_its_note_and_groups():
    for name in WORKFLOWS:
        ui = workflow(name)
        notes = [n for n in ui["nodes"] if n["type"] == "Note"]
        assert len(notes) == 1 and len(notes[0]["widgets_values"][0]) > 40, name
        assert {"Prompt"} <= {g["title"] for g in ui["groups"]}, name


LOADER_FOLDERS = {"NewBieModelLoader": "diffusion_models", "NewBieTextEncoderLoader":
                  "text_encoders", "NewBieVAELoader": "vae", "VAELoader": "vae"}


def test_every_model_file_in_an_example_carries_its_download_link():
    """The front end offers a missing file for download from the loader node's
    properties.models: each entry names the widget's file, its folder, and a URL that ends
    in that file name."""
    seen = 0
    for path in EXAMPLES.glob("*.json"):
        for node in json.loads(path.read_text())["nodes"]:
            folder = LOADER_FOLDERS.get(node["type"])
            if folder is None:
                continue
            files = [v for v in node["widgets_values"] if str(v).endswith(".safetensors")]
            models = node["properties"].get("models", [])
            assert [m["name"] for m in models] == files, (path.stem, node["type"])
            for entry in models:
                seen += 1
                assert entry["directory"] == folder
                assert entry["url"].startswith("https://huggingface.co/")
                assert entry["url"].endswith("/" + entry["name"])
    assert seen >= 20
