"""Shared pieces of the node classes: category, custom socket types, errors."""
from __future__ import annotations

from comfy_api.latest import io

CATEGORY = "NewBie"

# A list of plain character dicts, so it stays JSON-able across the graph.
CharacterList = io.Custom("NEWBIE_CHARACTER")


def text_input(id: str, tooltip: str, multiline: bool = False, display_name: str | None = None,
               default: str = "", optional: bool = False) -> io.String.Input:
    """A string widget for prompt text: never dynamic-prompt expanded ({a|b} stays literal)."""
    return io.String.Input(id, display_name=display_name, tooltip=tooltip, multiline=multiline,
                           default=default, dynamic_prompts=False, optional=optional)
