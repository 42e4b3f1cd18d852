"""UI format (what ComfyUI saves) -> API format (what /prompt runs), as the frontend's graphToPrompt does it.

- widget values are matched to input names in /object_info order, skipping control_after_generate and upload slots;
- a linked widget takes its link; Reroutes are followed; a frontend PrimitiveNode gives its value;
- bypassed nodes (mode 4) pass their input of the same type through; muted nodes (mode 2) drop what they fed;
- notes and other frontend-only nodes vanish. Subgraphs are refused with a way out.
"""
from __future__ import annotations

from ..errors import LikenessError
from .specs import FRONTEND_ONLY, NodeSpec

MUTED, BYPASSED = 2, 4


class ConversionError(LikenessError):
    pass


class _Value:
    def __init__(self, value):
        self.value = value


def _link(raw) -> tuple:
    """(id, origin id, origin slot, target id, target slot, type) from a list or a dict link."""
    if isinstance(raw, dict):
        return (raw["id"], raw["origin_id"], raw["origin_slot"], raw["target_id"], raw["target_slot"], raw.get("type"))
    return tuple(raw[:6])


def ui_to_api(ui: dict, specs: dict[str, NodeSpec]) -> dict:
    if not isinstance(ui, dict) or not isinstance(ui.get("nodes"), list):
        raise ConversionError("Not a ComfyUI workflow in UI format (no 'nodes' list).")
    if (ui.get("definitions") or {}).get("subgraphs"):
        raise ConversionError("This workflow contains subgraphs, which this converter does not flatten. Unpack them "
                              "in ComfyUI (right-click > Unpack Subgraph), or export it with Workflow > Export (API).")
    nodes = {n["id"]: n for n in ui["nodes"]}
    links = {link[0]: link for link in map(_link, ui.get("links") or [])}

    def source(link_id, depth=0):
        """What a link delivers: ["id", slot], a _Value, or None (the input is dropped)."""
        link = links.get(link_id)
        if link is None or depth > 64:
            return None
        src = nodes.get(link[1])
        if src is None or src.get("mode") == MUTED:
            return None
        if src["type"] == "Reroute":
            return source((src.get("inputs") or [{}])[0].get("link"), depth + 1)
        if src["type"] == "PrimitiveNode":
            return _Value((src.get("widgets_values") or [None])[0])
        if src.get("mode") == BYPASSED:
            return source(_passthrough(src, link[2], links), depth + 1)
        return [str(src["id"]), link[2]]

    api = {}
    for node in sorted(ui["nodes"], key=lambda n: n["id"]):
        if node["type"] in FRONTEND_ONLY or node.get("mode") in (MUTED, BYPASSED):
            continue
        spec = specs.get(node["type"])
        if spec is None:
            raise ConversionError(f"Node {node['id']} ({node.get('title') or node['type']}): type '{node['type']}' "
                                  "is not installed on this ComfyUI. Install the custom node that provides it.")
        api[str(node["id"])] = {"inputs": _inputs(node, spec, source), "class_type": node["type"],
                                "_meta": {"title": node.get("title") or spec.display_name}}
    return api


def _inputs(node: dict, spec: NodeSpec, source) -> dict:
    values = node.get("widgets_values") or []
    linked = {i["name"]: i.get("link") for i in node.get("inputs") or [] if i.get("link") is not None}
    out, pos = {}, 0
    for inp in spec.inputs:
        value, has_value = None, False
        if inp.widget:
            if isinstance(values, dict):
                has_value, value = inp.name in values, values.get(inp.name)
            elif pos < len(values):
                has_value, value = True, values[pos]
            pos += inp.slots
        if inp.name in linked:
            got = source(linked[inp.name])
            if isinstance(got, _Value):
                out[inp.name] = got.value
            elif got is not None:
                out[inp.name] = got
        elif has_value:
            out[inp.name] = value
    return out


def _passthrough(node: dict, slot: int, links: dict):
    """The input link a bypassed node hands on for output `slot`: same type, preferring the same position."""
    outputs = node.get("outputs") or []
    kind = outputs[slot].get("type") if slot < len(outputs) else None
    candidates = [(k, i["link"]) for k, i in enumerate(node.get("inputs") or [])
                  if i.get("link") is not None and i["link"] in links and links[i["link"]][5] == kind]
    if not candidates:
        return None
    return next((lk for k, lk in candidates if k == slot), candidates[0][1])
