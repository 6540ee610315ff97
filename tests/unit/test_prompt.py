"""The XML prompt library, without ComfyUI."""
from pathlib import Path

import pytest

from newbie.prompt import (Character, GeneralTags, NewBiePrompt, PromptError, build_xml, dump_slots,
                           looks_like_xml, parse_slots, parse_xml, tidy_tags)

DATA = Path(__file__).parents[1] / "data"
OFFICIAL = (DATA / "official_example.xml").read_text()


def official_prompt() -> NewBiePrompt:
    uniform = "school_uniform, serafuku, white_sailor_collar, white_shirt, short_sleeves, " \
              "red_neckerchief, bow, "
    return NewBiePrompt(
        characters=[
            Character(n="$character_1$", gender="1girl",
                      appearance="chibi, red_eyes, blue_hair, long_hair, hair_between_eyes, "
                                 "head_tilt, tareme, closed_mouth",
                      clothing=uniform + "blue_skirt, miniskirt, pleated_skirt, blue_hat, "
                               "mini_hat, thighhighs, grey_thighhighs, black_shoes, mary_janes",
                      expression="happy, smile", action="standing, holding, holding_briefcase",
                      position="center_left"),
            Character(n="$character_2$", gender="1girl",
                      appearance="chibi, red_eyes, pink_hair, long_hair, very_long_hair, "
                                 "multi-tied_hair, open_mouth",
                      clothing=uniform + "red_skirt, miniskirt, pleated_skirt, hair_bow, "
                               "multiple_hair_bows, white_bow, ribbon_trim, ribbon-trimmed_bow, "
                               "white_thighhighs, black_shoes, mary_janes, bow_legwear, bare_arms",
                      expression="happy, smile",
                      action="standing, holding, holding_briefcase, waving",
                      position="center_right"),
        ],
        general_tags=GeneralTags(count="2girls, multiple_girls", style="anime_style, digital_art",
                                 background="white_background, simple_background",
                                 atmosphere="cheerful", quality="high_resolution, detailed",
                                 objects="briefcase", other="alternate_costume"),
    )


def test_builder_writes_the_official_example_byte_for_byte():
    assert build_xml(official_prompt()) == OFFICIAL


@pytest.mark.parametrize("name", ["official_example.xml", "official_example_readme.xml"])
def test_parser_reads_the_official_example(name):
    assert parse_xml((DATA / name).read_text(), strict=True) == official_prompt()


def test_layout_order_and_empty_elements():
    prompt = NewBiePrompt(characters=[Character(gender="1boy", position="left")],
                          general_tags=GeneralTags(quality="best_quality"),
                          caption="Two friends at dusk.")
    assert build_xml(prompt) == (
        "<character_1>\n<n></n>\n<gender>1boy</gender>\n<position>left</position>\n"
        "</character_1>\n\n<general_tags>\n<quality>best_quality</quality>\n</general_tags>\n\n"
        "<caption>Two friends at dusk.</caption>")


def test_no_characters_no_tags_gives_only_the_caption():
    assert build_xml(NewBiePrompt(caption="just a cat")) == "<caption>just a cat</caption>"
    assert build_xml(NewBiePrompt()) == ""


def test_text_is_written_as_typed_and_read_back():
    """The official code concatenates strings: Gemma sees `>_<`, never `&gt;_&lt;`."""
    typed = "<tag> 'q' \"dq\" \\(x\\), >_<, <3, ^_^, &amp; stays, <b>x</b>"
    prompt = NewBiePrompt(characters=[Character(n="a&b", appearance=typed)],
                          caption="smile & wave <3")
    xml = build_xml(prompt)
    assert "<n>a&b</n>" in xml and f"<appearance>{typed}</appearance>" in xml
    assert "&lt;" not in xml and "&gt;" not in xml and "&amp;b" not in xml
    assert parse_xml(xml) == prompt
    assert parse_xml(xml, strict=True) == prompt


def test_the_formats_own_tags_cannot_hide_in_text():
    for text in ("a </n> b", "x <gender>1girl", "<character_2>", "</general_tags>"):
        with pytest.raises(PromptError, match="a tag of the prompt format"):
            build_xml(NewBiePrompt(characters=[Character(n=text)]))
    with pytest.raises(PromptError, match="a tag of the prompt format"):
        build_xml(NewBiePrompt(extra={"mood": "calm </mood> x"}))


def test_only_the_formats_tags_make_a_prompt_xml():
    assert not looks_like_xml("<3, 1girl, >_<, smile")
    assert not looks_like_xml("<red> & blue, <b>bold</b>")
    assert looks_like_xml("1girl <caption>x</caption>")
    assert looks_like_xml("<character_12>")


def test_control_characters_are_dropped_not_fatal(caplog):
    xml = build_xml(NewBiePrompt(characters=[Character(appearance="red\x00_eyes\x1b")]))
    assert "<appearance>red_eyes</appearance>" in xml
    assert "control characters" in caplog.text


def test_tidy_tags():
    assert tidy_tags(" red eyes,long  hair ,, red eyes，rem (re:zero), a_\\(b\\) ") == \
        "red_eyes, long_hair, rem_\\(re:zero\\), a_\\(b\\)"


def test_build_with_tidy_leaves_caption_alone():
    prompt = NewBiePrompt(characters=[Character(n="hatsune miku", appearance="long hair")],
                          caption="A girl (smiling) by the sea")
    xml = build_xml(prompt, tidy=True)
    assert "<n>hatsune_miku</n>" in xml and "<appearance>long_hair</appearance>" in xml
    assert "<caption>A girl (smiling) by the sea</caption>" in xml


@pytest.mark.parametrize("text, message, line, column", [
    ("<character_1>\n<n>a</n>\n", "<character_1> opened on line 1 is never closed", 3, 1),
    ("<character_1>\n  <n>a</gender>\n</character_1>", "<n> opened on line 2 is not closed "
     "before </gender>", 2, 7),
    ("<character_1><n>a</character_1>", "not closed before </character_1>", 1, 18),
    ("<caption>a</caption></character_1>", "mismatch: </character_1>", 1, 21),
    ("<character_1><general_tags></general_tags></character_1>", "cannot be inside", 1, 14),
    ("\n<caption>bad \x01 char</caption>", "control character U+0001", 2, 14),
])
def test_malformed_xml_reports_line_and_column(text, message, line, column):
    with pytest.raises(PromptError) as info:
        parse_xml(text)
    assert message in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)


@pytest.mark.parametrize("text", [
    '<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><caption>&x;</caption>',
    '<!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><caption>&b;</caption>',
    '<caption>x</caption>\n<!ENTITY y "z">',
])
def test_doctype_and_entities_are_refused(text):
    with pytest.raises(PromptError, match="DOCTYPE and ENTITY declarations are not allowed"):
        parse_xml(text)


def test_unknown_elements_kept_when_lenient_rejected_when_strict():
    text = ("<character_1>\n<n>x</n>\n<hair_color>blue</hair_color>\n</character_1>\n\n"
            "<general_tags>\n<extra_tags>sparkles</extra_tags>\n</general_tags>\n\n"
            "<mood>calm</mood>")
    prompt = parse_xml(text)
    assert prompt.characters[0].extra == {"hair_color": "blue"}
    assert prompt.general_tags.extra == {"extra_tags": "sparkles"}
    assert prompt.extra == {"mood": "calm"}
    assert parse_xml(build_xml(prompt)) == prompt
    with pytest.raises(PromptError, match=r"unknown element <hair_color> in <character_1>") as info:
        parse_xml(text, strict=True)
    assert info.value.line == 3 and info.value.column == 1


def test_lenient_reads_wrapper_duplicates_and_out_of_order_characters():
    text = ("<image><character_2><n>b</n></character_2><character_1><n>a</n>"
            "<appearance>x</appearance><appearance>y</appearance></character_1></image>")
    prompt = parse_xml(text)
    assert [c.n for c in prompt.characters] == ["a", "b"]
    assert prompt.characters[0].appearance == "x, y"
    for strict_only in [text, "<character_2><n>b</n></character_2>"]:
        with pytest.raises(PromptError):
            parse_xml(strict_only, strict=True)


def test_stray_text_and_nested_fields_are_errors():
    with pytest.raises(PromptError, match="outside any element") as info:
        parse_xml("<caption>a</caption>\nloose words")
    assert (info.value.line, info.value.column) == (2, 1)
    with pytest.raises(PromptError, match="not closed before <gender>"):
        parse_xml("<character_1><appearance><gender>x</gender></appearance></character_1>")


def test_entities_are_text_never_resolved():
    prompt = parse_xml("<caption>a &foo; b &amp; &#x41; &lt;</caption>")
    assert prompt.caption == "a &foo; b &amp; &#x41; &lt;"


def test_xml_declaration_is_accepted():
    assert parse_xml('<?xml version="1.0"?>\n<caption>hi</caption>').caption == "hi"


def test_slots_round_trip_and_migrate():
    chars = [Character(n="a", gender="1girl"), Character(n="b", extra={"aura": "glow"})]
    assert parse_slots(dump_slots(chars)) == chars
    assert parse_slots('[{"n": "old"}]') == [Character(n="old")]  # version 0: bare list
    assert parse_slots("") == [] and parse_slots("  ") == []


@pytest.mark.parametrize("text, message", [
    ('{"version": 1, "characters": [', "not valid JSON"),
    ('{"version": 9, "characters": []}', "unsupported version 9"),
    ('{"version": 1, "characters": {}}', "must be a list"),
    ('{"version": 1, "characters": [{"n": ["x"]}]}', "character slot 1: Character.n: expected text"),
])
def test_bad_slots_give_clear_errors(text, message):
    with pytest.raises(PromptError, match=message.replace("(", r"\(")):
        parse_slots(text)
