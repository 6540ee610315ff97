"""What Gemma sees, through the real server: Danbooru text exactly as typed, the system
prompt NewBie was trained with for the prompt's kind, the 512-token budget made
visible, and the defaults that fit the card."""
import json

import pytest
import torch
from devtools.graphs import pixels, png, t2i
from devtools.tiny_lora import lora_pairs, write_single_file
from devtools.tiny_models import write_safetensors

from newbie.loading import load_gemma_tokenizer
from newbie.prompt import DEFAULT_SYSTEM_PROMPT, TEXTUAL_SYSTEM_PROMPT
from newbie.prompt import GENERAL_TAG_FIELDS, parse_xml

DANBOORU = r">_<, <3, ^_^, rem_\(re:zero\), black & white, <red> ribbon"


def xml_prompt(slots=None, caption="", **tags):
    inputs = {**{f: "" for f in GENERAL_TAG_FIELDS}, **tags, "caption": caption,
              "tidy_tags": False,
              "character_slots": json.dumps({"version": 1, "characters": slots or []})}
    return {"x": {"class_type": "NewBieXMLPrompt", "inputs": inputs},
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["x", 0]}}}


def gemma_count(comfy, text, system):
    tokenizer = load_gemma_tokenizer(comfy.models / "text_encoders" / "gemma_t2i.safetensors")
    return len(tokenizer.ids(system + text))


def test_danbooru_text_reaches_the_xml_as_typed_and_passes_the_check(comfy, tiny):
    graph = xml_prompt([{"n": "miku", "appearance": DANBOORU}], caption="smile & wave <3")
    result = comfy.run(graph)
    xml = result.text("show")
    assert f"<appearance>{DANBOORU}</appearance>" in xml and "&lt;" not in xml
    assert "<caption>smile & wave <3</caption>" in xml
    assert parse_xml(xml).characters[0].appearance == DANBOORU  # round trip

    encode = t2i(seed=31, text=xml)  # the default xml_check is auto
    encode.update({"show_info": {"class_type": "PreviewAny", "inputs": {"source": ["enc", 2]}}})
    run = comfy.run(encode)
    assert run.status == "success", run.error
    assert run.text("show_info") == (f"system prompt: xml (auto: XML prompt); Gemma: "
                                     f"{gemma_count(comfy, xml, DEFAULT_SYSTEM_PROMPT)} / 512 "
                                     "tokens")


@pytest.mark.parametrize("text, kind, system", [
    ("<character_1><n>miku</n><appearance>>_<, <3</appearance></character_1>", "xml",
     DEFAULT_SYSTEM_PROMPT),
    (r"1girl, >_<, <3, rem_\(re:zero\), smile", "textual", TEXTUAL_SYSTEM_PROMPT),
    ("A girl waves at the sea & smiles <3", "textual", TEXTUAL_SYSTEM_PROMPT),
], ids=["xml", "tags", "natural"])
def test_auto_picks_the_system_prompt_of_the_prompts_kind(comfy, tiny, text, kind, system):
    result = comfy.run(t2i(seed=32, text=text))
    assert result.status == "success", result.error
    why = "XML prompt" if kind == "xml" else "tags or natural language"
    info = result.outputs["enc"]["text"][0]
    assert info == (f"system prompt: {kind} (auto: {why}); Gemma: "
                    f"{gemma_count(comfy, text, system)} / 512 tokens")
    print(f"{kind}: {info}")


def test_a_chosen_or_typed_system_prompt_is_used_and_said(comfy, tiny):
    graph = t2i(seed=33, text="1girl, smile")
    graph["enc"]["inputs"].update(system_prompt_mode="xml")
    assert comfy.run(graph).outputs["enc"]["text"][0].startswith("system prompt: xml (chosen)")
    graph["enc"]["inputs"].update(system_prompt_mode="as typed", system_prompt="Draw: ")
    info = comfy.run(graph).outputs["enc"]["text"][0]
    assert info == (f"system prompt: as typed (6 characters); Gemma: "
                    f"{gemma_count(comfy, '1girl, smile', 'Draw: ')} / 512 tokens")


def test_a_cut_prompt_says_how_many_tokens_were_dropped(comfy, tiny):
    text = "red eyes, " * 400
    result = comfy.run(t2i(seed=34, text=text))
    count = gemma_count(comfy, text, TEXTUAL_SYSTEM_PROMPT)
    assert count > 512
    assert result.outputs["enc"]["text"][0].endswith(
        f"Gemma: {count} / 512 tokens; cut: {count - 512} tokens dropped, as in training")


def test_the_sampler_computes_in_auto_by_default(comfy):
    info = comfy.get_json("/object_info/NewBieSampler")["NewBieSampler"]
    assert info["input"]["required"]["dtype"][1]["default"] == "auto"


def test_a_lora_with_text_encoder_keys_loads_its_transformer_part(comfy, tiny):
    pairs = lora_pairs(std=0.3)
    loras = comfy.models / "loras"
    plain = write_single_file(loras / "transformer_only.safetensors", pairs, alpha=4.0)
    from safetensors.torch import load_file
    mixed = load_file(str(plain))
    for i in range(3):  # a kohya trainer's text-encoder adapters beside the transformer's
        mixed[f"lora_te1_text_model_encoder_layers_{i}_mlp_fc1.lora_down.weight"] = torch.ones(4, 8)
        mixed[f"lora_te1_text_model_encoder_layers_{i}_mlp_fc1.lora_up.weight"] = torch.ones(8, 4)
        mixed[f"lora_te1_text_model_encoder_layers_{i}_mlp_fc1.alpha"] = torch.tensor(4.0)
    write_safetensors(loras / "with_text_encoder.safetensors", mixed)

    def run(name):
        graph = t2i(seed=35)
        graph["lora"] = {"class_type": "NewBieLoraLoader", "inputs": {
            "model": ["m", 0], "lora_name": name, "strength": 1.0}}
        graph["s"]["inputs"]["model"] = ["lora", 0]
        return png(comfy, comfy.run(graph))

    assert (pixels(run("with_text_encoder.safetensors"))
            == pixels(run("transformer_only.safetensors"))).all()
    assert ("NewBie LoRA with_text_encoder.safetensors: skipped 9 text-encoder keys "
            "(3 adapters") in comfy.log()


def test_the_encoder_gets_exactly_the_typed_text(pack, tmp_path):
    """In process, the node's CONDITIONING equals the library encoding the very string
    (no entity, no escape on the way)."""
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders

    encoders = load_text_encoders(write_gemma_comfy(tmp_path / "g.safetensors"),
                                  write_jina_comfy(tmp_path / "j.safetensors"))
    text = f"<character_1><appearance>{DANBOORU}</appearance></character_1>"
    node = pack.nodes.encode_nodes.NewBieTextEncode
    clip = pack.comfy_glue.clip.newbie_clip(encoders, {}, on_cpu=False)
    positive = node.execute(clip, text=text, negative="", system_prompt="",
                            max_tokens=512).args[0]
    feats, mask, pooled = encoders.encode([text], system_prompt=DEFAULT_SYSTEM_PROMPT)
    torch.testing.assert_close(positive[0][0], feats[:, :int(mask.sum())], rtol=0, atol=0)
    torch.testing.assert_close(positive[0][1]["pooled_output"], pooled, rtol=0, atol=0)
    escaped = text.replace(">_<", "&gt;_&lt;")
    other, _, _ = encoders.encode([escaped], system_prompt=DEFAULT_SYSTEM_PROMPT)
    assert other.shape != feats.shape or not torch.equal(other, feats)  # the test can fail
