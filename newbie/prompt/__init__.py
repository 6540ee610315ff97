"""NewBie's prompts: the XML format and the JSON form, builder, parser, slots, the
system-prompt choice and tag tidying."""
from .builder import build_xml
from .json_form import (BoxedCharacter, JsonPrompt, build_json_prompt, check_box, json_to_prompt,
                        parse_json_prompt, prompt_to_json)
from .parser import looks_like_xml, parse_xml
from .schema import (CHARACTER_FIELDS, GENERAL_TAG_FIELDS, Character, GeneralTags,
                     NewBiePrompt, PromptError)
from .shapes import PROMPT_START, prompt_shape, read_prompt, split_system_prompt
from .slots import SLOTS_VERSION, dump_slots, parse_boxed_slots, parse_slots
from .system import (DEFAULT_SYSTEM_PROMPT, GEMMA_MAX_TOKENS, SYSTEM_PROMPT_MODES, SYSTEM_PROMPTS,
                     TEMPLATE_SYSTEM_PROMPT, TEXTUAL_SYSTEM_PROMPT, XML_CHECKS, check_prompt,
                     choose_system_prompt, system_prompt_for, token_info, tower_texts)
from .tags import tidy_tag, tidy_tags

__all__ = [
    "CHARACTER_FIELDS", "GENERAL_TAG_FIELDS", "Character", "GeneralTags", "NewBiePrompt",
    "PromptError", "SLOTS_VERSION", "build_xml", "dump_slots", "looks_like_xml", "parse_slots",
    "parse_boxed_slots", "parse_xml", "BoxedCharacter", "JsonPrompt", "build_json_prompt",
    "check_box", "json_to_prompt", "parse_json_prompt", "prompt_to_json", "PROMPT_START",
    "prompt_shape", "read_prompt", "split_system_prompt",
    "tidy_tag", "tidy_tags", "DEFAULT_SYSTEM_PROMPT", "GEMMA_MAX_TOKENS", "SYSTEM_PROMPT_MODES",
    "SYSTEM_PROMPTS", "TEMPLATE_SYSTEM_PROMPT", "TEXTUAL_SYSTEM_PROMPT", "XML_CHECKS",
    "check_prompt", "choose_system_prompt", "system_prompt_for", "token_info", "tower_texts",
]
