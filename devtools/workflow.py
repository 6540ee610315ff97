"""Turns a workflow as the ComfyUI editor saves it (UI format) into the API format
that `/prompt` takes, using the server's /object_info for the widget order.

Covers what example workflows use: links, widget values (list or by-name dict),
the extra value the editor stores after seeds (control_after_generate),
Reroute nodes, notes, and muted/bypassed nodes.
"""
from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SKIPPED_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4


def _is_widget(spec) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 else {}
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def _has_control(name: str, spec) -> bool:
    options = spec[1] if len(spec) > 1 else {}
    if "control_after_generate" in options:
        return bool(options["control_after_generate"])
    return spec[0] == "INT" and name in ("seed", "noise_seed")


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}

    def source(link_id):
        """(node id, slot) feeding a link, looking through reroutes and bypassed nodes."""
        _, node_id, slot, *_ = links[link_id]
        node = nodes[node_id]
        if node["type"] == "Reroute" or node.get("mode") == BYPASSED:
            upstream = next((i["link"] for i in node.get("inputs", []) if i.get("link") is not None),
                            None)
            return source(upstream) if upstream is not None else None
        return str(node_id), slot

    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in SKIPPED_TYPES or node.get("mode") in (MUTED, BYPASSED):
            continue
        info = object_info.get(node["type"])
        if info is None:
            raise KeyError(f"node type {node['type']!r} (node {node['id']}) is not installed")
        specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        values = node.get("widgets_values", [])
        inputs = {}
        position = 0
        for name, spec in specs.items():
            if _is_widget(spec):
                if isinstance(values, dict):
                    if name in values:
                        inputs[name] = values[name]
                elif position < len(values):
                    inputs[name] = values[position]
                    position += 1 + _has_control(name, spec)
            if name in linked:
                fed = source(linked[name])
                if fed is not None:
                    inputs[name] = [fed[0], fed[1]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs,
                                   "_meta": {"title": node.get("title", info["display_name"])}}
    return prompt
