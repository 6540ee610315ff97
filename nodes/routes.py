"""HTTP route for the slot editor's live XML preview: the server's own builder, so
the preview is exactly what the node will output (minus chained characters)."""
from __future__ import annotations

from aiohttp import web

from ..newbie.prompt import GeneralTags, NewBiePrompt, PromptError, build_xml, parse_slots

PREVIEW_ROUTE = "/newbie/xml_preview"


async def xml_preview(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        prompt = NewBiePrompt(characters=parse_slots(body.get("character_slots") or ""),
                              general_tags=GeneralTags.from_dict(body.get("general_tags") or {}),
                              caption=body.get("caption") or "")
        return web.json_response({"xml": build_xml(prompt, tidy=bool(body.get("tidy_tags")))})
    except PromptError as err:
        return web.json_response({"error": str(err)})
    except (ValueError, AttributeError) as err:
        return web.json_response({"error": f"bad preview request: {err}"}, status=400)


def register_routes():
    from server import PromptServer

    PromptServer.instance.routes.post(PREVIEW_ROUTE)(xml_preview)
