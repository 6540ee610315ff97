"""HTTP route for the slot editor's live XML preview: the server's own builder, so
the preview is exactly what the node will output (minus chained characters)."""
from __future__ import annotations

from aiohttp import web

from ..newbie.prompt import GeneralTags, NewBiePrompt, PromptError, build_xml, parse_slots

PREVIEW_ROUTE = "/newbie/xml_preview"


_FIELDS = {"character_slots": str, "general_tags": dict, "caption": str, "tidy_tags": bool}


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": f"bad preview request: {message}"}, status=400)


async def xml_preview(request: web.Request) -> web.Response:
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
    tags = body.get("general_tags") or {}
    if not all(isinstance(v, str) for v in tags.values()):
        return _bad_request("'general_tags' values must be text")
    try:
        prompt = NewBiePrompt(characters=parse_slots(body.get("character_slots") or ""),
                              general_tags=GeneralTags.from_dict(tags),
                              caption=body.get("caption") or "")
        return web.json_response({"xml": build_xml(prompt, tidy=bool(body.get("tidy_tags")))})
    except PromptError as err:  # the editor shows the message in place of the preview
        return web.json_response({"error": str(err)}, status=400)


def register_routes():
    from server import PromptServer

    PromptServer.instance.routes.post(PREVIEW_ROUTE)(xml_preview)
