"""Every prompt shape: XML, tags, an inline system prompt, and the JSON form of ComfyUI's
NewBie template (the fixture is written in the template's layout: the system prompt on
the first line, one JSON token a line, the XML pasted into "tags" as typed)."""
import re
from pathlib import Path

import pytest

from newbie.prompt import (TEMPLATE_SYSTEM_PROMPT, TEXTUAL_SYSTEM_PROMPT, BoxedCharacter,
                           Character, GeneralTags, JsonPrompt, NewBiePrompt, PromptError,
                           build_json_prompt, check_prompt, choose_system_prompt, dump_slots,
                           parse_boxed_slots, parse_json_prompt, parse_xml, prompt_shape,
                           prompt_to_json, read_prompt, split_system_prompt, tower_texts)
from newbie.prompt.system import DEFAULT_SYSTEM_PROMPT

DATA = Path(__file__).parents[1] / "data"
TEMPLATE = (DATA / "comfy_template_prompt.txt").read_text()
NEGATIVE = (DATA / "comfy_template_negative.txt").read_text()
OFFICIAL = (DATA / "official_example.xml").read_text().strip()
SYSTEM_LINE = ("You are an assistant designed to generate high-quality anime images with the "
               "highest degree of image-text alignment based on xml format textual prompts. "
               "<Prompt Start>\n")


def test_the_templates_prompt_splits_at_prompt_start_and_is_never_doubled():
    system, body = split_system_prompt(TEMPLATE)
    assert system == SYSTEM_LINE and system + body == TEMPLATE
    assert body.startswith('{\n"character_1"')
    assert prompt_shape(body) == "json"
    chosen, label = choose_system_prompt(TEMPLATE, "auto")
    assert chosen == "" and label.startswith("from the prompt")
    # Gemma: the text as typed, whatever system prompt is offered; Jina: the rest.
    assert tower_texts(TEMPLATE, DEFAULT_SYSTEM_PROMPT) == (TEMPLATE, body)
    for mode in ("xml", "textual", "as typed"):
        assert choose_system_prompt(TEMPLATE, mode, "mine")[0] == ""
    check_prompt(TEMPLATE, "auto", "text")


def test_the_templates_negative_keeps_its_own_system_prompt():
    system, body = split_system_prompt(NEGATIVE)
    assert system.startswith("You are an assistant designed to generate low-quality images")
    assert body == "low quality, worst quality, blurry, bad anatomy, extra fingers"
    assert tower_texts(NEGATIVE, None) == (NEGATIVE, body)
    check_prompt(NEGATIVE, "auto", "negative")


@pytest.mark.parametrize("text", [
    "1girl, <Prompt Start> later",
    "<character_1><n>a</n></character_1> <Prompt Start>",
    '{"image": {"tags": "x <Prompt Start>", "caption": ""}}',
    "<Prompt Start> at the very start",
    "no marker at all",
])
def test_a_system_prompt_is_only_text_before_the_marker(text):
    system, body = split_system_prompt(text)
    if text.startswith("1girl"):  # plain text before the marker: the user wrote one
        assert system == "1girl, <Prompt Start> " and body == "later"
    else:
        assert (system, body) == ("", text)


def test_auto_picks_per_shape_and_says_so():
    assert choose_system_prompt(OFFICIAL, "auto") == (DEFAULT_SYSTEM_PROMPT, "xml (auto: XML prompt)")
    assert choose_system_prompt("{masterpiece}, 1girl", "auto")[0] == TEXTUAL_SYSTEM_PROMPT
    body = split_system_prompt(TEMPLATE)[1]
    chosen, label = choose_system_prompt(body, "auto")
    assert chosen == TEMPLATE_SYSTEM_PROMPT == SYSTEM_LINE and "JSON form" in label
    assert choose_system_prompt(OFFICIAL, "template")[0] == SYSTEM_LINE


def test_the_json_form_reads_values_as_typed():
    form = parse_json_prompt(split_system_prompt(TEMPLATE)[1])
    assert form.characters == [BoxedCharacter("$character_1$", (0, 0, 1000, 1000))]
    assert form.tags == OFFICIAL  # raw newlines, nothing unescaped
    assert form.caption.endswith('waves \\"hello\\".')  # the backslashes are text too
    assert parse_xml(form.tags) == parse_xml(OFFICIAL)


def test_the_json_form_is_built_in_the_templates_layout_and_reads_back():
    body = split_system_prompt(TEMPLATE)[1]
    form = parse_json_prompt(body)
    assert build_json_prompt(form) == body
    prompt, boxes = read_prompt(TEMPLATE)[:2]
    assert boxes == [(0, 0, 1000, 1000), None]  # the XML has a second character, unboxed
    assert [c.n for c in prompt.characters] == ["$character_1$", "$character_2$"]
    again = parse_json_prompt(prompt_to_json(prompt, boxes))
    assert again.caption == form.caption and again.characters[0] == form.characters[0]
    assert parse_xml(again.tags) == NewBiePrompt(prompt.characters, prompt.general_tags)


def test_a_value_that_would_end_early_is_refused_when_building():
    with pytest.raises(PromptError, match="end it early"):
        build_json_prompt(JsonPrompt([], 'say "hi", "caption": x', ""))
    built = build_json_prompt(JsonPrompt([], 'quotes "inside" stay', 'and "here"'))
    assert parse_json_prompt(built).tags == 'quotes "inside" stay'


def _where(text: str, err: PromptError) -> str:
    return text.split("\n")[err.line - 1][err.column - 1:]


@pytest.mark.parametrize("change, message, at", [
    (("[\n0,\n0,\n1000,\n1000\n]", "[0, 0, 1001, 5]"), "outside 0..1000", "[0, 0, 1001"),
    (("[\n0,\n0,\n1000,\n1000\n]", "[500, 0, 100, 5]"), "x1 < x2", "[500"),
    (("[\n0,\n0,\n1000,\n1000\n]", "[0, 0, 5]"), "four integers", "[0, 0, 5]"),
    (('"name"', '"nmae"'), "unknown key 'nmae' in character_1; expected bbox, name", '"nmae"'),
    # A broken key after the XML: the XML runs on to the next string end, and the XML
    # check then stops where the JSON broke.
    (('"caption": "', '"caption" "'), "the XML in image.tags: text '\",' outside", '",'),
    (("<gender>1girl</gender>", "<gender>1girl</gendr>"), "not closed before <appearance>",
     "<appearance>"),
])
def test_bad_json_form_gets_a_clear_error_at_its_place(change, message, at):
    text = TEMPLATE.replace(*change, 1)
    with pytest.raises(PromptError, match=re.escape(message)) as info:
        check_prompt(text, "auto", "text")
    assert _where(text, info.value).startswith(at)
    check_prompt(text, "off", "text")  # with the check off it is text
    with pytest.raises(PromptError):
        read_prompt(text)


def test_a_truncated_json_form_says_what_is_never_closed():
    with pytest.raises(PromptError, match="image.caption is never closed"):
        check_prompt(TEMPLATE[:-4], "auto", "text")
    with pytest.raises(PromptError, match="text after the closing"):
        check_prompt(TEMPLATE + " extra", "auto", "text")


def test_read_prompt_fills_slots_from_every_shape():
    assert read_prompt(OFFICIAL)[0] == parse_xml(OFFICIAL)
    tags = read_prompt("1girl, solo, smile")[0]
    assert tags.general_tags.other == "1girl, solo, smile" and not tags.caption
    prose = read_prompt("A girl stands in the rain. She smiles.")[0]
    assert prose.caption == "A girl stands in the rain. She smiles."


def test_slots_carry_boxes_and_version_1_still_reads():
    chars = [Character(n="a"), Character(n="b")]
    text = dump_slots(chars, [(0, 0, 500, 1000), None])
    assert '"version": 2' in text and '"box": [0, 0, 500, 1000]' in text
    assert parse_boxed_slots(text) == [(chars[0], (0, 0, 500, 1000)), (chars[1], None)]
    old = '{"version": 1, "characters": [{"n": "a"}]}'
    assert parse_boxed_slots(old) == [(Character(n="a"), None)]
    with pytest.raises(PromptError, match="character slot 1: box"):
        parse_boxed_slots('{"version": 2, "characters": [{"n": "a", "box": [0, 0, 0, 9]}]}')


def test_prompt_to_json_writes_only_the_boxes_it_has():
    prompt = NewBiePrompt([Character(n="a", gender="1girl")], GeneralTags(count="1girl"),
                          caption="A girl.")
    text = prompt_to_json(prompt, [None])
    assert '"bbox"' not in text and '"caption": "A girl."' in text
    assert parse_json_prompt(text).characters == [BoxedCharacter("a", None)]
