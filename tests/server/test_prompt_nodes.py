"""The prompt nodes inside a real ComfyUI server, driven through /prompt."""
import json
from pathlib import Path

from newbie.prompt import CHARACTER_FIELDS, GENERAL_TAG_FIELDS, parse_xml

OFFICIAL = (Path(__file__).parents[1] / "data" / "official_example.xml").read_text()
EMPTY_CHARACTER = dict.fromkeys(CHARACTER_FIELDS, "")
EMPTY_TAGS = dict.fromkeys(GENERAL_TAG_FIELDS, "")


def character(upstream=None, **fields):
    inputs = {**EMPTY_CHARACTER, **fields}
    if upstream:
        inputs["characters"] = [upstream, 0]
    return {"class_type": "NewBieCharacter", "inputs": inputs}


def xml_prompt(upstream=None, **fields):
    inputs = {**EMPTY_TAGS, "caption": "", "tidy_tags": False, **fields}
    if upstream:
        inputs["characters"] = [upstream, 0]
    return {"class_type": "NewBieXMLPrompt", "inputs": inputs}


def preview(source):
    return {"class_type": "PreviewAny", "inputs": {"source": [source, 0]}}


UNIFORM = ("school_uniform, serafuku, white_sailor_collar, white_shirt, short_sleeves, "
           "red_neckerchief, bow, ")


def official_graph(other="alternate_costume") -> dict:
    """The official two-character example as two chained Character nodes."""
    return {
        "1": character(n="$character_1$", gender="1girl",
                       appearance="chibi, red_eyes, blue_hair, long_hair, hair_between_eyes, "
                                  "head_tilt, tareme, closed_mouth",
                       clothing=UNIFORM + "blue_skirt, miniskirt, pleated_skirt, blue_hat, "
                                "mini_hat, thighhighs, grey_thighhighs, black_shoes, mary_janes",
                       expression="happy, smile", action="standing, holding, holding_briefcase",
                       position="center_left"),
        "2": character("1", n="$character_2$", gender="1girl",
                       appearance="chibi, red_eyes, pink_hair, long_hair, very_long_hair, "
                                  "multi-tied_hair, open_mouth",
                       clothing=UNIFORM + "red_skirt, miniskirt, pleated_skirt, hair_bow, "
                                "multiple_hair_bows, white_bow, ribbon_trim, ribbon-trimmed_bow, "
                                "white_thighhighs, black_shoes, mary_janes, bow_legwear, bare_arms",
                       expression="happy, smile",
                       action="standing, holding, holding_briefcase, waving",
                       position="center_right"),
        "3": xml_prompt("2", count="2girls, multiple_girls", style="anime_style, digital_art",
                        background="white_background, simple_background", atmosphere="cheerful",
                        quality="high_resolution, detailed", objects="briefcase", other=other),
        "4": preview("3"),
    }


def test_nodes_sit_in_subcategories_like_cores(comfy):
    groups = {"NewBie/loaders": {"NewBieModelLoader", "NewBieTextEncoderLoader",
                                 "NewBieVAELoader", "NewBieLoraLoader"},
              "NewBie/prompt": {"NewBieCharacter", "NewBieXMLPrompt", "NewBiePromptWriter",
                                "NewBieTextEncode"},
              "NewBie/sampling": {"NewBieSampler", "NewBieCFGGuider", "NewBieSamplerSelect"},
              "NewBie/latent": {"NewBieEmptyLatent", "NewBieVAEDecode", "NewBieVAEEncode"}}
    info = comfy.get_json("/object_info")
    ours = {name: d["category"] for name, d in info.items() if name.startswith("NewBie")}
    assert ours == {node: group for group, nodes in groups.items() for node in nodes}


def test_nodes_are_listed_with_descriptions_and_tooltips(comfy):
    info = comfy.get_json("/object_info")
    for node_id in ("NewBieCharacter", "NewBieXMLPrompt"):
        assert info[node_id]["category"] == "NewBie/prompt"
        assert info[node_id]["description"]
        for name, spec in {**info[node_id]["input"]["required"],
                           **info[node_id]["input"].get("optional", {})}.items():
            assert spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
    assert info["NewBieCharacter"]["output"] == ["NEWBIE_CHARACTER"]
    assert info["NewBieXMLPrompt"]["output"] == ["STRING"]


def test_two_chained_characters_give_the_official_xml(comfy):
    result = comfy.run(official_graph())
    assert result.status == "success", result.error
    assert result.text("4") == OFFICIAL


def test_slots_follow_chained_characters_and_tidy_applies(comfy):
    slots = json.dumps({"version": 1, "characters": [
        {"n": "rem (re:zero)", "gender": "1girl", "appearance": "blue hair, blue hair"}]})
    graph = {"1": character(n="first", gender="1boy"),
             "2": xml_prompt("1", character_slots=slots, tidy_tags=True, quality="best quality",
                             caption="Two friends (at dusk)."),
             "3": preview("2")}
    result = comfy.run(graph)
    assert result.status == "success", result.error
    prompt = parse_xml(result.text("3"), strict=True)
    assert [c.n for c in prompt.characters] == ["first", "rem_\\(re:zero\\)"]
    assert prompt.characters[1].appearance == "blue_hair"
    assert prompt.general_tags.quality == "best_quality"
    assert prompt.caption == "Two friends (at dusk)."


def test_malformed_slots_give_a_node_error_and_the_server_keeps_answering(comfy):
    graph = {"1": xml_prompt(character_slots='{"version": 1, "characters": [{"n": "a"'),
             "2": preview("1")}
    result = comfy.run(graph)
    assert result.status == "invalid"
    errors = result.error["node_errors"]["1"]["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["extra_info"]["input_name"] == "character_slots"
    assert "character slots are not valid JSON" in errors[0]["details"]
    assert "(line 1, column 40)" in errors[0]["details"]
    # Still serving, and a good prompt still runs.
    assert comfy.alive()
    good = comfy.run(official_graph(other="alternate_costume, after_error"))
    assert good.status == "success", good.error
    assert good.text("4").endswith("<other>alternate_costume, after_error</other>\n</general_tags>")


def test_linked_bad_slot_value_fails_at_run_time_with_a_clear_message(comfy):
    # A linked string skips validate_inputs; the node must still refuse it clearly.
    graph = {"1": {"class_type": "PrimitiveString",
                   "inputs": {"value": '{"version": 7, "characters": []}'}},
             "2": {**xml_prompt(), "inputs": {**xml_prompt()["inputs"],
                                              "character_slots": ["1", 0]}},
             "3": preview("2")}
    result = comfy.run(graph)
    assert result.status == "error"
    assert "unsupported version 7" in result.error["exception_message"]
    assert comfy.alive()


def test_a_format_tag_in_a_character_field_is_blamed_on_the_character_node(comfy):
    graph = {"1": character(n="miku", appearance="long_hair, <n>rin</n>"),
             "2": xml_prompt("1"), "3": preview("2")}
    result = comfy.run(graph)
    assert result.status == "error" and result.error["node_type"] == "NewBieCharacter"
    assert result.refusal().startswith("NewBie Character: character_1 <appearance>: the text "
                                       "holds '<n>', a tag of the prompt format")
