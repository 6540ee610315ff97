"""Nodes that build NewBie's XML character prompts."""
from __future__ import annotations

from comfy_api.latest import io

from ..newbie.prompt import (CHARACTER_FIELDS, GENERAL_TAG_FIELDS, Character, GeneralTags,
                             NewBiePrompt, PromptError, build_xml, parse_boxed_slots,
                             prompt_to_json, read_prompt)
from .input_checks import checked_inputs
from .common import PROMPT, CharacterList, text_input

# Help for the schema's fields (newbie.prompt.schema is the one list of them: the slot
# editor reads the fields, labels and examples off NewBie Character's inputs).
CHARACTER_TOOLTIPS = {
    "n": "Character name as a Danbooru tag (e.g. hatsune_miku), or a placeholder "
         "such as $character_1$. Written even when empty.",
    "gender": "e.g. 1girl, 1boy, 1other.",
    "appearance": "Hair, eyes, face and other looks, as comma-separated tags.",
    "clothing": "What the character wears, as comma-separated tags.",
    "body_type": "Build and proportions, e.g. petite, muscular.",
    "expression": "Facial expression, e.g. smile, blush.",
    "action": "What the character is doing, e.g. standing, holding_umbrella.",
    "interaction": "How this character relates to the others, e.g. holding_hands.",
    "position": "Where in the frame, e.g. center_left, center_right.",
}
CHARACTER_EXAMPLES = {"n": "hatsune_miku or $character_1$", "gender": "1girl",
                      "appearance": "long_hair, blue_eyes", "clothing": "school_uniform",
                      "body_type": "petite", "expression": "smile", "action": "standing, waving",
                      "interaction": "holding_hands", "position": "center_left"}
MULTILINE_FIELDS = {"appearance", "clothing", "action"}

GENERAL_TOOLTIPS = {
    "count": "Number of people, e.g. 2girls, multiple_girls.",
    "artists": "Artist tags, written as artist:name.",
    "style": "e.g. anime_style, digital_art.",
    "background": "e.g. white_background, simple_background.",
    "environment": "Setting, e.g. classroom, forest, night_sky.",
    "perspective": "Camera, e.g. from_above, close-up, cowboy_shot.",
    "atmosphere": "Mood, e.g. cheerful, melancholic.",
    "lighting": "e.g. backlighting, soft_lighting.",
    "resolution": "e.g. high_resolution, absurdres.",
    "quality": "e.g. masterpiece, best_quality, detailed.",
    "objects": "Props in the scene, e.g. briefcase, umbrella.",
    "other": "Anything else, e.g. alternate_costume.",
}
SLOTS_TOOLTIP = ("Character slots edited by the slot widget, stored as versioned JSON "
                 '({"version": 2, "characters": [{"n": ..., "box": [x1, y1, x2, y2]}]}; a box '
                 "is optional, in thousandths of the image). Leave empty to use only the "
                 "chained characters.")
OUTPUT_FORMS = ("auto", "xml", "json")


def _raise_node_error(err: PromptError, node: str):
    raise ValueError(f"{node}: {err}") from None


class NewBieCharacter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        fields = [text_input(f, CHARACTER_TOOLTIPS[f], multiline=f in MULTILINE_FIELDS,
                             display_name="name" if f == "n" else None,
                             placeholder=CHARACTER_EXAMPLES[f])
                  for f in CHARACTER_FIELDS]
        return io.Schema(
            node_id="NewBieCharacter",
            display_name="NewBie Character",
            category=PROMPT,
            description="One character of a NewBie XML prompt. Chain several: each node adds "
                        "its character after the ones coming in, in order.",
            inputs=[CharacterList.Input("characters", optional=True,
                                        tooltip="Characters from earlier NewBie Character nodes."),
                    *fields],
            outputs=[CharacterList.Output(display_name="characters",
                                          tooltip="The incoming characters plus this one.")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, characters=None, **fields) -> io.NodeOutput:
        try:
            character = Character.from_dict(fields)
            build_xml(NewBiePrompt(characters=[character]))  # its own mistakes, blamed here
        except PromptError as err:
            _raise_node_error(err, "NewBie Character")
        return io.NodeOutput([*(characters or []), character.to_dict()])


class NewBieXMLPrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        tags = [text_input(f, GENERAL_TOOLTIPS[f]) for f in GENERAL_TAG_FIELDS]
        return io.Schema(
            node_id="NewBieXMLPrompt",
            display_name="NewBie XML Prompt",
            category=PROMPT,
            description="Builds the XML prompt NewBie was trained on: <character_N> blocks "
                        "(chained characters first, then the slots), <general_tags>, and an "
                        "optional <caption>; or the JSON form of ComfyUI's NewBie template, "
                        "which adds a box per character. Feed the text to NewBie Text Encode.",
            inputs=[
                CharacterList.Input("characters", optional=True,
                                    tooltip="Characters from NewBie Character nodes."),
                *tags,
                text_input("caption", "Optional natural-language description, written as "
                                      "<caption> after the tags.", multiline=True),
                io.Boolean.Input("tidy_tags", default=False,
                                 tooltip="Spaces to underscores, one ', ' between tags, "
                                         "parentheses escaped as \\( \\), repeats dropped."),
                text_input("character_slots", SLOTS_TOOLTIP, multiline=True, optional=True),
                io.Combo.Input("output_form", options=list(OUTPUT_FORMS), default="auto",
                               optional=True,
                               tooltip="xml: the XML. json: the JSON form of ComfyUI's NewBie "
                                       "template (the XML in 'tags', the caption beside it, "
                                       "each character's name and box). auto: json when a "
                                       "slot has a box, else xml. The boxes follow the "
                                       "template's format; how much the model heeds them is "
                                       "the model's."),
                # Last: a front end may keep a slot in widgets_values for it, and saves
                # made before it existed must keep their widget positions.
                io.String.Input("prompt", optional=True, force_input=True,
                                tooltip="A prompt of any shape (XML, the JSON form, tags), e.g. "
                                        "from NewBie Prompt Writer: its characters come after "
                                        "the chained ones, before the slots; its general tags "
                                        "and caption fill the fields left empty here."),
            ],
            outputs=[io.String.Output(display_name="prompt",
                                      tooltip="The prompt text (XML, or the JSON form).")],
        )

    @classmethod
    def validate_inputs(cls, character_slots: str = ""):
        # Only the slots are checked here (no **kwargs: ComfyUI would then blame every input).
        try:
            parse_boxed_slots(character_slots)
        except PromptError as err:
            return str(err)
        return True

    @classmethod
    @checked_inputs
    def execute(cls, characters=None, caption="", tidy_tags=False, character_slots="",
                output_form="auto", prompt=None, **tags) -> io.NodeOutput:
        try:
            chained = [Character.from_dict(c) for c in characters or []]
            given, given_boxes, _ = read_prompt(prompt) if prompt else (NewBiePrompt(), [], "")
            given_boxes += [None] * (len(given.characters) - len(given_boxes))
            slots = parse_boxed_slots(character_slots)
            tags = {k: v or getattr(given.general_tags, k, "") for k, v in tags.items()}
            prompt = NewBiePrompt(characters=chained + given.characters + [c for c, _ in slots],
                                  general_tags=GeneralTags.from_dict(tags),
                                  caption=caption or given.caption)
            boxes = [None] * len(chained) + given_boxes + [box for _, box in slots]
            if output_form == "json" or (output_form == "auto" and any(boxes)):
                return io.NodeOutput(prompt_to_json(prompt, boxes, tidy=tidy_tags))
            text = build_xml(prompt, tidy=tidy_tags)
        except PromptError as err:
            _raise_node_error(err, "NewBie XML Prompt")
        return io.NodeOutput(text)


PROMPT_NODES = [NewBieCharacter, NewBieXMLPrompt]
