"""The JSON form of a NewBie prompt, as ComfyUI's NewBie template writes it:

    {
    "character_1": {
    "bbox": [
    0,
    0,
    1000,
    1000
    ],
    "name": "$character_1$"
    },
    "image": {
    "tags": "<character_1> ... </general_tags>",
    "caption": "A natural-language description."
    }
    }

It is text shaped like JSON, not strict JSON: the template pastes the XML between the
quotes as typed (raw newlines, `\\(`, quotes), and the model saw it as text. So the
format's keys are structure and every value is read as typed, never unescaped: a
string ends at the first `"` followed by `,` and the next key, or by `}`. A box is
x1, y1, x2, y2 in 0..1000 of the image, x1 < x2 and y1 < y2.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .builder import build_xml
from .parser import parse_xml
from .schema import Character, NewBiePrompt, PromptError, position

Box = tuple[int, int, int, int]
BOX_SCALE = 1000
CHARACTER_KEYS = ("bbox", "name")
IMAGE_KEYS = ("tags", "caption")
_CHARACTER_KEY = re.compile(r"character_([1-9][0-9]{0,3})")
_KEY = re.compile(r'"([^"\n]*)"\s*:')
# What may follow a string's closing quote: the next key, or the end of its object.
_STRING_END = re.compile(r'"(?=\s*(?:,\s*"[^"\n]*"\s*:|\}))')
_INTEGER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass
class BoxedCharacter:
    name: str = ""
    bbox: Box | None = None


@dataclass
class JsonPrompt:
    """What the JSON form holds: characters (numbered from 1 in order), the XML, the caption."""
    characters: list[BoxedCharacter] = field(default_factory=list)
    tags: str = ""
    caption: str = ""
    tags_at: int | None = field(default=None, compare=False)  # where `tags` starts in the text


def check_box(box, where: str) -> Box:
    """A box as four ints in 0..1000 with x1 < x2 and y1 < y2, or PromptError (its
    message starting with `where: ` when given)."""
    where = f"{where}: " if where else ""
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in box):
        raise PromptError(f"{where}a box is four integers x1, y1, x2, y2 in 0..{BOX_SCALE}; "
                          f"got {box!r}")
    x1, y1, x2, y2 = box
    if not all(0 <= v <= BOX_SCALE for v in box):
        raise PromptError(f"{where}box {list(box)} is outside 0..{BOX_SCALE} (x1, y1, x2, y2 "
                          "in thousandths of the image)")
    if x1 >= x2 or y1 >= y2:
        raise PromptError(f"{where}box {list(box)} needs x1 < x2 and y1 < y2 (left, top, "
                          "right, bottom)")
    return (x1, y1, x2, y2)


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def fail(self, message: str, at: int | None = None) -> PromptError:
        return PromptError(f"JSON form: {message}", *position(self.text, self.i if at is None
                                                               else at))

    def space(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def take(self, char: str, what: str) -> None:
        self.space()
        if not self.text.startswith(char, self.i):
            found = self.text[self.i:self.i + 12].split("\n")[0] or "the end"
            raise self.fail(f"expected {what}, found {found!r}")
        self.i += 1

    def members(self, where: str, allowed, read_value) -> None:
        """`{ "key": value, ... }`, each key checked and read once."""
        self.take("{", f"'{{' opening {where}")
        seen: set[str] = set()
        self.space()
        if self.text.startswith("}", self.i):
            self.i += 1
            return
        while True:
            self.space()
            key_at = self.i
            key = _KEY.match(self.text, self.i)
            if not key:
                raise self.fail(f"expected a quoted key in {where}")
            name = key.group(1)
            if not allowed(name):
                raise self.fail(f"unknown key {name!r} in {where}; expected "
                                f"{allowed.__doc__}", key_at)
            if name in seen:
                raise self.fail(f"key {name!r} appears twice in {where}", key_at)
            seen.add(name)
            self.i = key.end()
            read_value(name, key_at)
            self.space()
            if self.text.startswith(",", self.i):
                self.i += 1
                self.space()
                if self.text.startswith("}", self.i):  # a trailing comma
                    self.i += 1
                    return
                continue
            self.take("}", f"',' or '}}' in {where}")
            return

    def string(self, where: str) -> str:
        self.take('"', f"a quoted text for {where}")
        end = _STRING_END.search(self.text, self.i)
        if not end:
            raise self.fail(f"the text of {where} is never closed (a '\"' followed by ',' and "
                            "the next key, or by '}')", self.i - 1)
        value, self.i = self.text[self.i:end.start()], end.end()
        return value

    def box(self, where: str) -> Box:
        self.space()
        start = self.i
        self.take("[", f"'[' opening the box of {where}")
        values = []
        while True:
            self.space()
            number = _INTEGER.match(self.text, self.i)
            if not number:
                raise self.fail(f"expected a number in the box of {where}")
            values.append(float(number.group()) if "." in number.group() else int(number.group()))
            self.i = number.end()
            self.space()
            if self.text.startswith("]", self.i):
                self.i += 1
                break
            self.take(",", f"',' or ']' in the box of {where}")
        try:
            return check_box(values, where)
        except PromptError as err:
            raise PromptError(f"JSON form: {err.message}", *position(self.text, start)) from None


def parse_json_prompt(text: str) -> JsonPrompt:
    """Read the JSON form (without a leading system prompt); PromptError with line and
    column for what cannot be made sense of (broken structure, an unknown or repeated key,
    a bad box)."""
    reader = _Reader(text)
    numbered: dict[int, BoxedCharacter] = {}
    out = JsonPrompt()

    def top_key(name):
        """character_1, character_2, ... and image"""
        return name == "image" or bool(_CHARACTER_KEY.fullmatch(name))

    def character_key(name):
        """bbox, name"""
        return name in CHARACTER_KEYS

    def image_key(name):
        """tags, caption"""
        return name in IMAGE_KEYS

    def top_value(name, _):
        if name == "image":
            def image_value(key, _):
                reader.space()
                if key == "tags":
                    out.tags_at = reader.i + 1  # after the opening quote
                setattr(out, key, reader.string(f"image.{key}"))
            reader.members("image", image_key, image_value)
            return
        character = numbered.setdefault(int(_CHARACTER_KEY.fullmatch(name).group(1)),
                                        BoxedCharacter())

        def character_value(key, _):
            if key == "bbox":
                character.bbox = reader.box(name)
            else:
                character.name = reader.string(f"{name}.name")
        reader.members(name, character_key, character_value)

    reader.members("the prompt", top_key, top_value)
    reader.space()
    if reader.i < len(text):
        raise reader.fail("text after the closing '}'")
    numbers = sorted(numbered)
    if numbers != list(range(1, len(numbers) + 1)):
        raise PromptError(f"JSON form: characters must be numbered 1..{len(numbers)}, "
                          f"found {numbers}")
    out.characters = [numbered[n] for n in numbers]
    return out


def build_json_prompt(prompt: JsonPrompt) -> str:
    """The JSON form in the template's layout, values as typed. Refuses a value the
    reader would cut short, so what is built always reads back the same."""
    lines = ["{"]
    entries = []
    for i, character in enumerate(prompt.characters, start=1):
        inner = []
        if character.bbox is not None:
            box = check_box(list(character.bbox), f"character_{i}")
            inner.append('"bbox": [\n' + ",\n".join(map(str, box)) + "\n]")
        inner.append(f'"name": "{character.name}"')
        entries.append(f'"character_{i}": {{\n' + ",\n".join(inner) + "\n}")
    entries.append('"image": {\n' + f'"tags": "{prompt.tags}",\n"caption": "{prompt.caption}"'
                   + "\n}")
    lines.append(",\n".join(entries))
    lines.append("}")
    text = "\n".join(lines)
    try:
        back = parse_json_prompt(text)
    except PromptError as err:
        raise PromptError(f"cannot write the JSON form: a value holds text that would end it "
                          f"early ({err.message})") from None
    if back != JsonPrompt([BoxedCharacter(c.name, None if c.bbox is None else tuple(c.bbox))
                           for c in prompt.characters], prompt.tags, prompt.caption):
        raise PromptError("cannot write the JSON form: a value holds '\"' followed by ',' and "
                          "a key, or by '}', which would end it early")
    return text


def json_to_prompt(form: JsonPrompt) -> tuple[NewBiePrompt, list[Box | None]]:
    """The characters, tags and caption of the JSON form as a NewBiePrompt, and each
    character's box. The XML in `tags` is read as XML (lenient); a character the JSON
    names but the XML lacks becomes one with that name."""
    prompt = parse_xml(form.tags)
    for i, boxed in enumerate(form.characters):
        if i >= len(prompt.characters):
            prompt.characters.append(Character(n=boxed.name))
        elif not prompt.characters[i].n:
            prompt.characters[i].n = boxed.name.strip()
    prompt.caption = ", ".join(t for t in (prompt.caption, form.caption.strip()) if t)
    boxes = [c.bbox for c in form.characters]
    return prompt, boxes + [None] * (len(prompt.characters) - len(boxes))


def prompt_to_json(prompt: NewBiePrompt, boxes: list[Box | None], tidy: bool = False) -> str:
    """The JSON form of `prompt`: the XML (without the caption) in `tags`, the caption
    beside it, each character's name and box."""
    tags = build_xml(NewBiePrompt(characters=prompt.characters,
                                  general_tags=prompt.general_tags, extra=prompt.extra),
                     tidy=tidy)
    count = len(prompt.characters)
    boxes = (list(boxes) + [None] * count)[:count]
    return build_json_prompt(JsonPrompt(
        [BoxedCharacter(c.n, b) for c, b in zip(prompt.characters, boxes, strict=True)], tags,
        prompt.caption))
