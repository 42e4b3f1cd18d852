"""A workflow described once in code, rendered as ComfyUI's UI format (what users drag in).

    wf = Workflow("faceswap")
    unet = wf.add("UNETLoader", "Load Qwen-Image", group="Models", unet_name="...", weight_dtype="default")
    wf.add("KSampler", "Sampler", group="Generate", model=unet[0], seed=0, ...)
    ui = wf.to_ui(specs)          # nodes, links, groups, notes, positions

The API format is not written here: it is the UI format run through `convert.ui_to_api`, the same converter the
runner uses on workflows users save, so the two formats cannot drift apart.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from ..errors import LikenessError
from .specs import NodeSpec

BYPASSED = 4  # litegraph node mode: skipped, inputs passed through (Ctrl+B in the UI)
GROUP_COLORS = ["#3f789e", "#8A8", "#b06634", "#a1309b", "#88A", "#b58b2a", "#8AA"]  # all readable on the dark theme
NODE_WIDTH, COLUMN_GAP, NODE_GAP = 340, 60, 30
GROUP_FONT = 24
GROUP_TITLE = round(GROUP_FONT * 1.4)  # the band litegraph draws a group's title in
NODE_TITLE = 30                        # drawn above a node's pos (LiteGraph.NODE_TITLE_HEIGHT)
VIEW = {"scale": 0.7, "offset": [100, 200]}


@dataclass(frozen=True)
class Out:
    """Output `slot` of `node`: pass it as an input value to link two nodes."""
    node: "Node"
    slot: int


@dataclass(eq=False)
class Node:
    id: int
    class_type: str
    title: str
    group: str
    inputs: dict
    bypassed: bool = False
    controls: dict = field(default_factory=dict)  # control_after_generate per input: randomize | fixed | ...
    text: str = ""                                # notes only

    def __getitem__(self, slot: int) -> Out:
        return Out(self, slot)


class Workflow:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[Node] = []
        self.groups: list[str] = []

    def add(self, class_type: str, title: str, *, group: str, bypassed: bool = False,
            controls: dict | None = None, **inputs) -> Node:
        if group not in self.groups:
            self.groups.append(group)
        node = Node(len(self.nodes) + 1, class_type, title, group, inputs, bypassed, controls or {})
        self.nodes.append(node)
        return node

    def note(self, text: str, *, group: str, title: str = "Read me") -> Node:
        node = self.add("MarkdownNote", title, group=group)
        node.text = text
        return node

    # -- UI format ---------------------------------------------------------------------------------------------
    def to_ui(self, specs: dict[str, NodeSpec], models: dict[str, dict] | None = None) -> dict:
        """The litegraph document the ComfyUI frontend loads; `models` maps file names to {url, directory}."""
        links: list[list] = []
        ui_nodes = [self._ui_node(n, specs, links, models or {}) for n in self.nodes]
        by_id = {n["id"]: n for n in ui_nodes}
        for link_id, src, slot, _dst, _dst_slot, _type in links:
            by_id[src]["outputs"][slot]["links"].append(link_id)
        groups = self._layout(ui_nodes)
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-likeness/{self.name}")), "revision": 0,
                "last_node_id": len(ui_nodes), "last_link_id": len(links), "nodes": ui_nodes, "links": links,
                "groups": groups, "config": {}, "extra": {"ds": VIEW},
                "version": 0.4}

    def _ui_node(self, node: Node, specs: dict[str, NodeSpec], links: list, models: dict) -> dict:
        base = {"id": node.id, "type": node.class_type, "title": node.title, "pos": [0, 0], "size": [NODE_WIDTH, 0],
                "flags": {}, "order": node.id - 1, "mode": BYPASSED if node.bypassed else 0}
        if node.class_type == "MarkdownNote":
            return {**base, "inputs": [], "outputs": [], "properties": {}, "widgets_values": [node.text],
                    "color": "#432", "bgcolor": "#653"}
        spec = specs.get(node.class_type)
        if spec is None:
            raise LikenessError(f"{self.name}: no interface known for {node.class_type}; refresh the node specs "
                                "(python -m likeness workflows --specs-from http://127.0.0.1:8188).")
        unknown = set(node.inputs) - {i.name for i in spec.inputs}
        if unknown:
            raise LikenessError(f"{self.name}: {node.title} ({node.class_type}) has no input(s) {sorted(unknown)}.")
        inputs, values, files = [], [], []
        for inp in spec.inputs:
            value = node.inputs.get(inp.name)
            if inp.widget and inp.name not in node.inputs:
                raise LikenessError(f"{self.name}: {node.title}: give widget '{inp.name}' a value.")
            entry = {"name": inp.name, "type": inp.type, "link": None}
            if inp.widget:
                entry["widget"] = {"name": inp.name}
                values.append(inp.default if isinstance(value, Out) else value)
                if inp.control:
                    values.append(node.controls.get(inp.name, "randomize"))
                if inp.upload:
                    values.append("image")
                if isinstance(value, str) and value in models:
                    files.append({"name": value, **models[value]})
            if inp.optional:
                entry["shape"] = 7
            if isinstance(value, Out):
                src_spec = specs[value.node.class_type]
                link_id = len(links) + 1
                links.append([link_id, value.node.id, value.slot, node.id, len(inputs), src_spec.outputs[value.slot][1]])
                entry["link"] = link_id
            inputs.append(entry)
        outputs = [{"name": name, "type": kind, "links": [], "slot_index": i}
                   for i, (name, kind) in enumerate(spec.outputs)]
        properties = {"Node name for S&R": node.class_type}
        if files:
            properties["models"] = files  # the frontend offers these downloads when a file is missing
        return {**base, "inputs": inputs, "outputs": outputs, "properties": properties, "widgets_values": values}

    def _layout(self, ui_nodes: list[dict]) -> list[dict]:
        """One column per group, left to right in the order groups were first used."""
        groups, x = [], 0
        for k, title in enumerate(self.groups):
            members = [u for n, u in zip(self.nodes, ui_nodes) if n.group == title]
            y = GROUP_TITLE + 10
            for u in members:
                u["pos"] = [x + 10, y + NODE_TITLE]
                u["size"][1] = _height(u)
                y += NODE_TITLE + u["size"][1] + NODE_GAP
            groups.append({"id": k + 1, "title": title, "bounding": [x, 0, NODE_WIDTH + 20, y],
                           "color": GROUP_COLORS[k % len(GROUP_COLORS)], "font_size": GROUP_FONT, "flags": {}})
            x += NODE_WIDTH + 20 + COLUMN_GAP
        return groups


def _height(ui_node: dict) -> int:
    if ui_node["type"] == "MarkdownNote":
        return _note_height(ui_node["widgets_values"][0])
    sockets = sum(1 for i in ui_node["inputs"] if "widget" not in i)
    rows = max(sockets, len(ui_node["outputs"])) + len(ui_node["widgets_values"])
    multiline = sum(1 for v in ui_node["widgets_values"] if isinstance(v, str) and (len(v) > 40 or "\n" in v))
    return 30 + 24 * rows + 70 * multiline


def _note_height(markdown: str) -> int:
    """Rendered height: a 24 px row per wrapped line (about 40 characters fit), half a row between paragraphs."""
    rows = sum(math.ceil(len(line) / 40) if line.strip() else 0.5 for line in markdown.splitlines())
    return 40 + round(24 * rows)
