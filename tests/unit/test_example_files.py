"""The example workflows the README promises are there, written by the generator as
it stands (a changed generator means regenerating them)."""
import json
from pathlib import Path

from devtools.example_workflows import WORKFLOWS, to_ui

EXAMPLES = Path(__file__).resolve().parents[2] / "example_workflows"


def test_examples_cover_the_promised_workflows():
    stems = {p.stem for p in EXAMPLES.glob("*.json")}
    assert stems >= {"newbie_xml_two_characters", "newbie_t2i_two_characters",
                     "newbie_hires_fix_latent_upscale", "newbie_t2i_core_vae_decode",
                     "newbie_custom_sampler_guider", "newbie_t2i_distributed",
                     "newbie_t2i_comfy_template_prompt", "newbie_prompt_writer_slots"}
    assert stems == set(WORKFLOWS)


def test_every_example_is_what_the_generator_writes():
    for name, build in WORKFLOWS.items():
        assert json.loads((EXAMPLES / f"{name}.json").read_text()) == \
            json.loads(json.dumps(to_ui(build()), ensure_ascii=False)), name
