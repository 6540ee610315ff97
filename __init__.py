"""ComfyUI entry point of the NewBie node pack: registration only.

Nodes use the V3 schema; ComfyUI calls `comfy_entrypoint`. Do not export
NODE_CLASS_MAPPINGS here: ComfyUI would then take the V1 path and skip V3.
"""
WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    # Imported late: ComfyUI is up by now, and tools can import the pack without it.
    from .comfy_glue.routes import register_routes
    from .nodes import NewBieExtension

    register_routes()
    return NewBieExtension()
