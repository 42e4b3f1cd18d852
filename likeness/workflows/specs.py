"""Node interfaces as ComfyUI's /object_info describes them: which inputs are widgets, in which order.

The UI format stores widget values as a bare list (`widgets_values`) in the order of the node's inputs, with one
extra slot after any widget with `control_after_generate` (by default every INT named seed or noise_seed) and after an
image-upload combo (LoadImage: "image"). Both the workflow generator and the UI -> API converter read that order
from here, so they cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload")
SEED_NAMES = ("seed", "noise_seed")  # the frontend adds a control slot to these INTs by default
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}  # never sent to the server


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str            # socket type (MODEL, IMAGE, ...) or widget type (INT, COMBO, ...)
    widget: bool
    optional: bool = False
    control: bool = False  # a control_after_generate slot follows the value
    upload: bool = False   # an upload-button slot follows the value
    default: object = None

    @property
    def slots(self) -> int:
        """How many entries of widgets_values this input takes."""
        return (1 + self.control + self.upload) if self.widget else 0


@dataclass(frozen=True)
class NodeSpec:
    class_type: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[tuple[str, str], ...]  # (name, type)
    display_name: str = ""


def _split(raw) -> tuple[str, dict]:
    """An /object_info input ([type or option list, {options}]) -> (type, options); option lists are COMBO."""
    kind = raw[0] if isinstance(raw, (list, tuple)) and raw else raw
    opts = raw[1] if isinstance(raw, (list, tuple)) and len(raw) > 1 and isinstance(raw[1], dict) else {}
    return ("COMBO" if isinstance(kind, list) else str(kind)), opts


def _input(name: str, raw, optional: bool) -> InputSpec:
    kind, opts = _split(raw)
    widget = kind in WIDGET_TYPES and not opts.get("forceInput") and not opts.get("rawLink")
    # the frontend gives an INT named seed/noise_seed a control slot unless the node says otherwise
    control = widget and bool(opts.get("control_after_generate", kind == "INT" and name in SEED_NAMES))
    upload = widget and any(opts.get(f) for f in UPLOAD_FLAGS)
    return InputSpec(name, kind, widget, optional, control, upload, opts.get("default"))


def node_spec(class_type: str, entry: dict) -> NodeSpec:
    """A NodeSpec from one /object_info entry (full or trimmed by `trim`)."""
    inputs = []
    for section, optional in (("required", False), ("optional", True)):
        raw = entry.get("input", {}).get(section, {})
        order = entry.get("input_order", {}).get(section, list(raw))
        inputs += [_input(name, raw[name], optional) for name in order if name in raw]
    names = entry.get("output_name") or entry.get("output", [])
    outputs = tuple(zip(names, entry.get("output", [])))
    return NodeSpec(class_type, tuple(inputs), outputs, entry.get("display_name") or class_type)


def specs(object_info: dict) -> dict[str, NodeSpec]:
    return {k: node_spec(k, v) for k, v in object_info.items()}


def trim(entry: dict) -> dict:
    """An /object_info entry without what changes from one install to the next (file lists, tooltips)."""
    def slim(raw):
        kind, opts = _split(raw)
        keep = {k: True for k in ("forceInput", "rawLink", "control_after_generate", *UPLOAD_FLAGS) if opts.get(k)}
        if opts.get("control_after_generate") is False:
            keep["control_after_generate"] = False  # a seed input that opts out of the frontend's default
        if "default" in opts and kind != "COMBO":
            keep["default"] = opts["default"]  # shown in a widget whose input is linked
        return [kind, keep]

    inputs = {s: {n: slim(r) for n, r in entry.get("input", {}).get(s, {}).items()} for s in ("required", "optional")}
    return {"input": inputs,
            "input_order": {s: entry.get("input_order", {}).get(s, list(inputs[s])) for s in inputs},
            "output": entry.get("output", []), "output_name": entry.get("output_name", []),
            "display_name": entry.get("display_name", "")}
