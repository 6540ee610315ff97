"""Property: any prompt data gives a prompt that parses back to the same data, its text
exactly as typed."""
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from newbie.prompt import (CHARACTER_FIELDS, GENERAL_TAG_FIELDS, Character, GeneralTags,
                           NewBiePrompt, build_xml, parse_xml)
from newbie.prompt.schema import SCHEMA_TAGS as SCHEMA_NAMES

# Any printable text (control characters are dropped by the builder, tested elsewhere).
# Markup characters, entities, Danbooru emoticons and parentheses are drawn often on
# purpose. Closing tags are left out: the builder refuses the format's own tags and an
# element's own closing tag in its text (tested elsewhere).
xml_char = st.one_of(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00",
                  codec=None).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20 and c != "\x7f" and
                                     c not in "\ufffe\uffff"),
    st.sampled_from(list("&<>\"'()\\,_ ;#/")),
    st.sampled_from(["&amp;", "]]>", "<!--", "&#x41;", ">_<", "<3", "<red>", "<b/>", "\r\n"]),
)
_TAG = re.compile(r"</?([A-Za-z_][A-Za-z0-9_.\-]*)\s*/?>")
text = st.lists(xml_char, max_size=24).map("".join).filter(
    lambda t: not any(m.group(0).startswith("</") or m.group(1) in SCHEMA_NAMES
                      or m.group(1).startswith("character_") for m in _TAG.finditer(t)))
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)


def blocks(cls, known):
    extra = st.dictionaries(names.filter(lambda n: n not in known), text, max_size=2)
    return st.builds(cls, extra=extra, **{f: text for f in known})


prompts = st.builds(
    NewBiePrompt,
    characters=st.lists(blocks(Character, CHARACTER_FIELDS), max_size=4),
    general_tags=blocks(GeneralTags, GENERAL_TAG_FIELDS),
    caption=text,
    extra=st.dictionaries(names.filter(lambda n: n not in ("general_tags", "caption", "image")
                                       and not n.startswith("character_")), text, max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(prompts)
def test_any_prompt_round_trips(prompt):
    assert parse_xml(build_xml(prompt)) == drop_empty_extras(prompt)


def drop_empty_extras(prompt):
    # Empty elements are not written, so empty extras do not come back.
    data = prompt.to_dict()
    for block in [*data["characters"], data["general_tags"], data]:
        if "extra" in block:
            block["extra"] = {k: v for k, v in block["extra"].items() if v}
    return NewBiePrompt.from_dict(data)


@settings(max_examples=200, deadline=None)
@given(prompts)
def test_tidy_output_parses_and_is_stable(prompt):
    once = build_xml(prompt, tidy=True)
    assert build_xml(parse_xml(once), tidy=True) == once
