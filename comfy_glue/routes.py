"""HTTP routes for the slot editor: the live preview (the server's own builder over the
chained characters the editor found and the slots, so the preview is what the node will
output) and the import
of a pasted prompt of any shape into slots."""
from __future__ import annotations

from aiohttp import web

from ..newbie.loading import CheckpointError, load_gemma_tokenizer
from ..newbie.prompt import (GEMMA_MAX_TOKENS, SYSTEM_PROMPT_MODES, Character, GeneralTags,
                             NewBiePrompt,
                             PromptError, build_xml, choose_system_prompt, dump_slots,
                             parse_boxed_slots, prompt_to_json, read_prompt, tower_texts)
from .model_files import resolve_model

PREVIEW_ROUTE = "/newbie/xml_preview"
IMPORT_ROUTE = "/newbie/prompt_import"


_FIELDS = {"character_slots": str, "general_tags": dict, "caption": str, "tidy_tags": bool,
           "gemma": str, "system_prompt": str, "system_prompt_mode": str, "max_tokens": int,
           "output_form": str, "text": str, "chained": list}
_TOKENIZERS: dict[tuple[str, int], object] = {}


def _gemma_tokenizer(name: str):
    """The Gemma tokenizer of a file in models/text_encoders, kept while the file is unchanged."""
    path = resolve_model("text_encoders", name)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _TOKENIZERS:
        _TOKENIZERS.clear()  # one at a time: the workflow's own encoder
        _TOKENIZERS[key] = load_gemma_tokenizer(path)
    return _TOKENIZERS[key]


def gemma_tokens(xml: str, body: dict) -> dict:
    """The Gemma token count NewBie Text Encode will see for this XML, with the system
    prompt it will choose, counted with the workflow's own tokenizer."""
    mode = body.get("system_prompt_mode") or "auto"
    if mode not in SYSTEM_PROMPT_MODES:
        mode = "auto"
    typed = body.get("system_prompt") or "" if mode == "as typed" else ""
    system, label = choose_system_prompt(xml, mode, typed)
    limit = body.get("max_tokens") or GEMMA_MAX_TOKENS
    try:
        count = len(_gemma_tokenizer(body["gemma"]).ids(tower_texts(xml, system)[0]))
    except (CheckpointError, OSError, ValueError) as err:
        return {"error": f"cannot count Gemma tokens: {err}"}
    return {"count": count, "limit": limit, "system_prompt": label}


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": f"bad preview request: {message}"}, status=400)


async def _read_body(request: web.Request) -> dict | web.Response:
    try:
        body = await request.json()
    except (ValueError, RecursionError) as err:
        return _bad_request(f"the body is not usable JSON ({type(err).__name__})")
    if not isinstance(body, dict):
        return _bad_request(f"expected a JSON object, got {type(body).__name__}")
    for name, kind in _FIELDS.items():
        if body.get(name) is not None and not isinstance(body[name], kind):
            return _bad_request(f"'{name}' must be {kind.__name__}, got "
                                f"{type(body[name]).__name__}")
    return body


async def xml_preview(request: web.Request) -> web.Response:
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    tags = body.get("general_tags") or {}
    if not all(isinstance(v, str) for v in tags.values()):
        return _bad_request("'general_tags' values must be text")
    try:
        chained = [Character.from_dict(c) for c in body.get("chained") or []]
        slots = [(c, None) for c in chained] + parse_boxed_slots(body.get("character_slots") or "")
        prompt = NewBiePrompt(characters=[c for c, _ in slots],
                              general_tags=GeneralTags.from_dict(tags),
                              caption=body.get("caption") or "")
        boxes = [box for _, box in slots]
        form = body.get("output_form") or "auto"
        if form == "json" or (form == "auto" and any(boxes)):
            xml = prompt_to_json(prompt, boxes, tidy=bool(body.get("tidy_tags")))
        else:
            xml = build_xml(prompt, tidy=bool(body.get("tidy_tags")))
        reply = {"xml": xml}
        if body.get("gemma"):
            reply["gemma_tokens"] = gemma_tokens(xml, body)
        return web.json_response(reply)
    except PromptError as err:  # the editor shows the message in place of the preview
        return web.json_response({"error": str(err)}, status=400)


async def prompt_import(request: web.Request) -> web.Response:
    """A pasted prompt of any shape as the node's slot state, general tags and caption."""
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        prompt, boxes, system = read_prompt(body.get("text") or "")
    except PromptError as err:  # shown in the editor; nothing is changed
        return web.json_response({"error": str(err), "line": err.line, "column": err.column},
                                 status=400)
    return web.json_response({
        "character_slots": dump_slots(prompt.characters, boxes),
        "general_tags": {k: v for k, v in prompt.general_tags.to_dict().items() if k != "extra"},
        "caption": prompt.caption, "system_prompt": system,
        "dropped": sorted({*prompt.general_tags.extra, *prompt.extra})})


def register_routes():
    from server import PromptServer  # the running server: only there once ComfyUI is up

    PromptServer.instance.routes.post(PREVIEW_ROUTE)(xml_preview)
    PromptServer.instance.routes.post(IMPORT_ROUTE)(prompt_import)
