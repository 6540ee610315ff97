"""Every prompt shape through the real server: ComfyUI's NewBie template (its system
prompt inline, then the JSON form) and its negative encode exactly like the same parts
routed by hand; XML Prompt writes the JSON form when a slot has a box; a bad JSON form
is refused with its line and column; the editor's import route."""
import json
import urllib.error
from pathlib import Path

import pytest
import torch
from devtools.graphs import base_graph, latents, t2i

from newbie.loading import load_gemma_tokenizer
from newbie.prompt import GENERAL_TAG_FIELDS, parse_json_prompt, split_system_prompt

DATA = Path(__file__).parents[1] / "data"
TEMPLATE = (DATA / "comfy_template_prompt.txt").read_text()
NEGATIVE = (DATA / "comfy_template_negative.txt").read_text()


def encode(text: str, negative: str = "", **inputs) -> dict:
    # The tiny tokenizer splits finely: 2048 keeps the whole template uncut.
    return {"class_type": "NewBieTextEncode", "inputs": {
        "text_encoders": ["te", 0], "text": text, "negative": negative, "system_prompt": "",
        "max_tokens": 2048, **inputs}}


def test_the_templates_prompt_and_negative_equal_the_parts_routed_by_hand(comfy, tiny):
    """As pasted (defaults: xml_check and system_prompt_mode auto) vs by hand: Gemma gets
    the system prompt as the node's typed system prompt + the rest, Jina the rest; the
    negative the same way through a second encode."""
    (system, body), (neg_system, neg_body) = map(split_system_prompt, (TEMPLATE, NEGATIVE))
    pasted = base_graph(seed=41)
    pasted["enc"] = encode(TEMPLATE, NEGATIVE)
    by_hand = base_graph(seed=41)
    by_hand["enc"] = encode(body, system_prompt=system, system_prompt_mode="as typed")
    by_hand["neg"] = encode(neg_body, system_prompt=neg_system, system_prompt_mode="as typed")
    by_hand["s"]["inputs"]["negative"] = ["neg", 0]
    no_system = base_graph(seed=41)  # the negative without its system prompt: differs
    no_system["enc"] = encode(TEMPLATE, neg_body)
    (a,), (b,), (c,) = (latents(comfy, g, "s") for g in (pasted, by_hand, no_system))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_the_info_line_says_the_system_prompt_came_from_the_prompt(comfy, tiny):
    graph = t2i(seed=42, text=TEMPLATE)
    graph["enc"]["inputs"].update(negative=NEGATIVE, max_tokens=2048)
    result = comfy.run(graph)
    assert result.status == "success", result.error
    tokenizer = load_gemma_tokenizer(comfy.models / "text_encoders" / "gemma_t2i.safetensors")
    count = len(tokenizer.ids(TEMPLATE))  # as typed: no second system prompt in front
    system = split_system_prompt(TEMPLATE)[0]
    assert result.outputs["enc"]["text"][0] == (
        f"system prompt: from the prompt ({len(system.rstrip())} characters); Gemma: {count} "
        "/ 2048 tokens; negative: system prompt from the prompt")


def xml_prompt(slots: list, **inputs) -> dict:
    return {"class_type": "NewBieXMLPrompt", "inputs": {
        **{f: "" for f in GENERAL_TAG_FIELDS}, "count": "2girls", "caption": "Two girls.",
        "tidy_tags": False, "character_slots": json.dumps({"version": 2, "characters": slots}),
        **inputs}}


def test_xml_prompt_writes_the_json_form_when_a_slot_has_a_box(comfy, tiny):
    slots = [{"n": "a", "gender": "1girl", "box": [0, 100, 480, 1000]},
             {"n": "b", "gender": "1girl"}]
    graph = t2i(seed=43)
    graph["x"] = xml_prompt(slots)
    graph["x_xml"] = xml_prompt(slots, output_form="xml")
    graph["show"] = {"class_type": "PreviewAny", "inputs": {"source": ["x", 0]}}
    graph["show_xml"] = {"class_type": "PreviewAny", "inputs": {"source": ["x_xml", 0]}}
    graph["enc"]["inputs"]["text"] = ["x", 0]
    result = comfy.run(graph)
    assert result.status == "success", result.error
    form = parse_json_prompt(result.text("show"))
    assert [(c.name, c.bbox) for c in form.characters] == [("a", (0, 100, 480, 1000)),
                                                          ("b", None)]
    assert form.caption == "Two girls." and "<count>2girls</count>" in form.tags
    assert result.text("show_xml").startswith("<character_1>")
    assert result.outputs["enc"]["text"][0].startswith(
        "system prompt: template (auto: JSON form, as ComfyUI's NewBie template)")


@pytest.mark.parametrize("change, message", [
    (('"name"', '"nmae"'), "unknown key 'nmae' in character_1; expected bbox, name"),
    (("1000,\n1000", "1000,\n1200"), "outside 0..1000"),
    (("[\n0,\n0,\n1000,", "[\n600,\n0,\n500,"), "needs x1 < x2"),
    (("</gender>", "</gendr>"), "the XML in image.tags"),
])
def test_a_bad_json_form_is_refused_with_its_place(comfy, tiny, change, message):
    result = comfy.run(t2i(seed=44, text=TEMPLATE.replace(*change, 1)))
    assert result.status == "error"
    details = result.refusal()
    assert message in details and "(line " in details


def test_the_import_route_reads_every_shape(comfy):
    reply = json.loads(comfy.request("/newbie/prompt_import", {"text": TEMPLATE}))
    slots = json.loads(reply["character_slots"])
    assert slots["version"] == 2
    assert [(c["n"], c.get("box")) for c in slots["characters"]] == [
        ("$character_1$", [0, 0, 1000, 1000]), ("$character_2$", None)]
    assert reply["general_tags"]["count"] == "2girls, multiple_girls"
    assert reply["caption"].startswith("Two chibi girls")
    assert reply["system_prompt"] == split_system_prompt(TEMPLATE)[0]
    typo = TEMPLATE.replace('"name"', '"nmae"')
    with pytest.raises(urllib.error.HTTPError) as bad:
        comfy.request("/newbie/prompt_import", {"text": typo})
    error = json.loads(bad.value.read())
    assert bad.value.code == 400 and "unknown key 'nmae'" in error["error"]
    assert typo.split("\n")[error["line"] - 1][error["column"] - 1:].startswith('"nmae"')


def test_the_template_reaches_the_towers_as_routed_by_hand(pack, tmp_path):
    """In process: the node's CONDITIONING equals the library's encoders on token rows
    made by hand (Gemma: the text as typed; Jina: without its system prompt)."""
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders

    encoders = load_text_encoders(write_gemma_comfy(tmp_path / "g.safetensors"),
                                  write_jina_comfy(tmp_path / "j.safetensors"))
    clip = pack.comfy_glue.clip.newbie_clip(encoders, {}, on_cpu=False)
    node = pack.nodes.encode_nodes.NewBieTextEncode
    positive, negative = node.execute(clip, text=TEMPLATE, negative=NEGATIVE, system_prompt="",
                                      max_tokens=2048).args[:2]
    for (cond, extra), text in ((positive[0], TEMPLATE), (negative[0], NEGATIVE)):
        rows = [encoders.gemma_ids(text)], [encoders.jina_ids(split_system_prompt(text)[1])]
        feats, mask, pooled = encoders.encode_rows(*rows)
        torch.testing.assert_close(cond, feats[:, :int(mask.sum())], rtol=0, atol=0)
        torch.testing.assert_close(extra["pooled_output"], pooled, rtol=0, atol=0)


def test_a_bad_box_in_the_slots_is_refused_by_name(comfy, tiny):
    graph = {"x": xml_prompt([{"n": "a", "box": [0, 0, 1200, 500]}]),
             "show": {"class_type": "PreviewAny", "inputs": {"source": ["x", 0]}}}
    details = comfy.run(graph).refusal()
    assert "character slot 1: box [0, 0, 1200, 500] is outside 0..1000" in details
