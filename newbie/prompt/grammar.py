"""The XML layout NewBie's builder writes, as a character automaton, so a language model
can be held to it one token at a time: whatever it picks, the text parses with the
strict parser.

    <character_1>            characters numbered 1.. in order, <n> first, then any of
    <n>...</n>               the other fields, each at most once, in schema order
    ...
    </character_1>
                             a blank line between blocks
    <general_tags>           optional, its fields each at most once, in schema order
    ...
    </general_tags>

    <caption>...</caption>   optional, last

Field text is one line without '<' (so it can hold no markup) nor control characters.
`finish` closes whatever is open, so a cut-short output still parses.
"""
from __future__ import annotations

from collections.abc import Callable

from .schema import CHARACTER_FIELDS, CONTROL, GENERAL_TAG_FIELDS

MAX_CHARACTERS = 9
Next = Callable[[], "State"]


class State:
    def feed(self, char: str) -> State | None:
        raise NotImplementedError

    def can_end(self) -> bool:
        return False

    def finish(self) -> str:
        """The shortest text that closes everything open from here."""
        raise NotImplementedError


class Choice(State):
    """One of several literals, each leading on; the first is the way to close."""

    def __init__(self, options: list[tuple[str, Next]], ends: bool = False, matched: str = ""):
        self.options, self.ends, self.matched = options, ends, matched

    def feed(self, char: str) -> State | None:
        text = self.matched + char
        left = [(lit, nxt) for lit, nxt in self.options if lit.startswith(text)]
        if not left:
            return None
        for lit, nxt in left:
            if lit == text:
                return nxt()
        return Choice(left, False, text)

    def can_end(self) -> bool:
        return self.ends and not self.matched

    def finish(self) -> str:
        if self.can_end():
            return ""
        lit, nxt = self.options[0]
        return lit[len(self.matched):] + nxt().finish()


class Text(State):
    """Field text up to its closing tag."""

    def __init__(self, tag: str, after: Next):
        self.tag, self.after = tag, after

    def feed(self, char: str) -> State | None:
        if char == "<":
            return Choice([(f"/{self.tag}>", self.after)])
        if char == "\n" or CONTROL.match(char):
            return None
        return self

    def finish(self) -> str:
        return f"</{self.tag}>" + self.after().finish()


def _fields(block: str, fields: tuple[str, ...], start: int, after: Next) -> State:
    """`<field>` for any field from `start` on, or the block's closing tag."""
    options = [(f"</{block}>", after)]
    for i in range(start, len(fields)):
        options.append((f"<{fields[i]}>", lambda i=i: Text(
            fields[i], lambda: Choice([("\n", lambda: _fields(block, fields, i + 1, after))]))))
    return Choice(options)


def _caption() -> State:
    return Text("caption", lambda: Choice([], ends=True))


def _general(prefix: str) -> tuple[str, Next]:
    return (f"{prefix}<general_tags>\n",
            lambda: _fields("general_tags", GENERAL_TAG_FIELDS, 0, _after_general))


def _after_general() -> State:
    return Choice([("\n\n<caption>", _caption)], ends=True)


def _character(number: int, prefix: str) -> tuple[str, Next]:
    block = f"character_{number}"
    after_n = lambda: Choice([("\n", lambda: _fields(block, CHARACTER_FIELDS, 1,  # noqa: E731
                                                       lambda: _after_character(number)))])
    return f"{prefix}<{block}>\n<n>", lambda: Text("n", after_n)


def _after_character(number: int) -> State:
    options = [_general("\n\n"), ("\n\n<caption>", _caption)]
    if number < MAX_CHARACTERS:
        options.append(_character(number + 1, "\n\n"))
    return Choice(options, ends=True)


def start() -> State:
    """The automaton before any text: a prompt holds at least one block."""
    return Choice([("<caption>", _caption), _character(1, ""), _general("")])


def advance(state: State, text: str) -> State | None:
    """The state after `text`, or None when `text` leaves the layout."""
    for char in text:
        state = state.feed(char)
        if state is None:
            return None
    return state
