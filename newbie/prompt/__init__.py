"""XML character prompts for NewBie: data, builder, parser, tag tidying."""
from .builder import build_xml
from .parser import looks_like_xml, parse_xml
from .schema import (CHARACTER_FIELDS, GENERAL_TAG_FIELDS, Character, GeneralTags,
                     NewBiePrompt, PromptError)
from .slots import SLOTS_VERSION, dump_slots, parse_slots
from .system import (DEFAULT_SYSTEM_PROMPT, GEMMA_MAX_TOKENS, SYSTEM_PROMPT_MODES, SYSTEM_PROMPTS,
                     TEXTUAL_SYSTEM_PROMPT, XML_CHECKS, check_prompt, choose_system_prompt,
                     system_prompt_for, token_info, tower_texts)
from .tags import tidy_tag, tidy_tags

__all__ = [
    "CHARACTER_FIELDS", "GENERAL_TAG_FIELDS", "Character", "GeneralTags", "NewBiePrompt",
    "PromptError", "SLOTS_VERSION", "build_xml", "dump_slots", "looks_like_xml", "parse_slots",
    "parse_xml",
    "tidy_tag", "tidy_tags", "DEFAULT_SYSTEM_PROMPT", "GEMMA_MAX_TOKENS", "SYSTEM_PROMPT_MODES",
    "SYSTEM_PROMPTS", "TEXTUAL_SYSTEM_PROMPT", "XML_CHECKS", "check_prompt", "choose_system_prompt",
    "system_prompt_for", "token_info", "tower_texts",
]
