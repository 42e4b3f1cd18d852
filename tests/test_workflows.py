"""Shipped workflows: the files are what the code renders, the UI and API formats agree on a live server, and every
node, input and widget value is one that server accepts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from likeness.models.registry import load_manifest
from likeness.workflows import build, convert, shipped, specs

REPO = Path(__file__).resolve().parents[1]
NAMES = list(shipped.SHIPPED)


def api(name: str) -> dict:
    return json.loads((REPO / "workflows" / "api" / f"{name}.json").read_text())


def ui(name: str) -> dict:
    return json.loads((REPO / "workflows" / f"{name}.json").read_text())


def test_committed_workflow_files_are_what_the_code_renders():
    assert build.stale() == [], "run `python -m likeness workflows` and commit the result"


def test_template_browser_copies_match_the_workflows():
    for name in NAMES:
        assert (REPO / "example_workflows" / f"{name}.json").read_text() == (REPO / "workflows" / f"{name}.json").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_every_model_file_a_workflow_names_is_in_models_yaml_for_it(name):
    entries = {e.file: e for e in load_manifest()}
    folders = {"unet_name": "diffusion_models", "clip_name": "text_encoders", "vae_name": "vae",
               "swapper": "insightface", "restorer": "facerestore_models", "parser": "face_parsing"}
    named = [(n["inputs"][k], f) for n in ui_nodes(name) for k, f in folders.items()
             if isinstance(n["inputs"].get(k), str)]
    assert named, "the workflow loads no model?"
    for file, folder in named:
        assert file in entries, f"{file} is not in models.yaml"
        entry = entries[file]
        assert entry.folder == folder and entry.used_by(name, include_optional=True), (file, entry)
    # and `install.py --workflow NAME` fetches every file the API graph (bypassed nodes left out) loads
    loaded = {n["inputs"][k] for n in api(name).values() for k in folders if isinstance(n["inputs"].get(k), str)}
    required = {e.file for e in load_manifest() if name in e.required_by}
    assert loaded <= required, loaded - required


def ui_nodes(name):
    """API-like view of every UI node, bypassed ones included: {inputs: {widget name: value}}."""
    node_specs = build.load_specs()
    out = []
    for n in ui(name)["nodes"]:
        if n["type"] in specs.FRONTEND_ONLY:
            continue
        values, pos, inputs = n["widgets_values"], 0, {}
        for inp in node_specs[n["type"]].inputs:
            if inp.widget:
                inputs[inp.name] = values[pos]
                pos += inp.slots
        out.append({"inputs": inputs})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_ui_converts_to_the_shipped_api_graph_with_this_servers_node_definitions(comfy, name):
    comfy.require_core_for(name)
    live = specs.specs(comfy.object_info())
    assert convert.ui_to_api(ui(name), live) == api(name)


@pytest.mark.parametrize("name", NAMES)
def test_api_graph_validates_against_object_info(comfy, name):
    comfy.require_core_for(name)
    info = comfy.object_info()
    # packs go by folder; the character LoRA is the user's own, made by train-character-lora
    model_files = {Path(e.file).name if e.archive else e.file for e in load_manifest()} | {shipped.CHARACTER_LORA}
    graph = api(name)
    for node_id, node in graph.items():
        assert node["class_type"] in info, f"{node_id}: {node['class_type']} is not a node of this ComfyUI"
        entry = info[node["class_type"]]
        declared = {**entry["input"].get("required", {}), **entry["input"].get("optional", {})}
        missing = set(entry["input"].get("required", {})) - set(node["inputs"])
        assert not missing, f"{node['_meta']['title']}: required input(s) {missing} not set"
        for key, value in node["inputs"].items():
            assert key in declared, f"{node['_meta']['title']}: no input named {key}"
            kind, opts = declared[key][0], (declared[key][1] if len(declared[key]) > 1 else {})
            if isinstance(value, list):  # a link: to an existing node's existing output of the right type
                src = graph[value[0]]
                out_type = info[src["class_type"]]["output"][value[1]]
                want = "COMBO" if isinstance(kind, list) else kind
                assert out_type == want or want in ("COMBO", "*"), (node_id, key, out_type, want)
                continue
            options = kind if isinstance(kind, list) else opts.get("options")
            if options is not None and value not in model_files and value != "example.png":
                assert value in options, f"{node['_meta']['title']}.{key}={value!r} not in {options[:8]}"
            if kind in ("INT", "FLOAT"):
                assert opts.get("min", -np.inf) <= value <= opts.get("max", np.inf), (node_id, key, value)


def test_converter_follows_reroutes_primitives_bypass_mute_and_skips_notes(comfy, tmp_path):
    rng = np.random.default_rng(0)
    pixels = (rng.uniform(0, 255, (24, 32, 3))).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "conv.png")
    name = comfy.upload(tmp_path / "conv.png")
    doc = {"nodes": [
        {"id": 1, "type": "LoadImage", "mode": 0, "inputs": [],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1, 5]}], "widgets_values": [name, "image"]},
        {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}],
         "outputs": [{"name": "", "type": "IMAGE", "links": [2]}]},
        {"id": 3, "type": "ImageInvert", "mode": 4, "title": "Invert (bypassed)",
         "inputs": [{"name": "image", "type": "IMAGE", "link": 2}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [3]}], "widgets_values": []},
        {"id": 4, "type": "SaveImage", "mode": 0, "title": "Keep",
         "inputs": [{"name": "images", "type": "IMAGE", "link": 3},
                    {"name": "filename_prefix", "type": "STRING", "link": 4, "widget": {"name": "filename_prefix"}}],
         "outputs": [], "widgets_values": ["overridden by the primitive"]},
        {"id": 5, "type": "PrimitiveNode", "mode": 0,
         "outputs": [{"name": "STRING", "type": "STRING", "links": [4], "widget": {"name": "filename_prefix"}}],
         "widgets_values": ["converted"]},
        {"id": 6, "type": "PreviewImage", "mode": 2, "inputs": [{"name": "images", "type": "IMAGE", "link": 5}],
         "outputs": [], "widgets_values": []},
        {"id": 7, "type": "MarkdownNote", "mode": 0, "inputs": [], "outputs": [], "widgets_values": ["# hello"]},
        {"id": 8, "type": "KSampler", "mode": 0, "inputs": [], "outputs": [],
         "widgets_values": [5, "randomize", 3, 2.5, "euler", "simple", 0.5]},
    ], "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"],
                 [4, 5, 0, 4, 1, "STRING"], [5, 1, 0, 6, 0, "IMAGE"]], "version": 0.4}
    graph = convert.ui_to_api(doc, specs.specs(comfy.object_info()))
    assert sorted(graph) == ["1", "4", "8"]  # reroute, bypassed, primitive, muted and note nodes are gone
    assert graph["4"]["inputs"] == {"images": ["1", 0], "filename_prefix": "converted"}
    assert graph["8"]["inputs"] == {"seed": 5, "steps": 3, "cfg": 2.5, "sampler_name": "euler",
                                    "scheduler": "simple", "denoise": 0.5}  # the control slot is skipped
    assert graph["4"]["_meta"]["title"] == "Keep" and graph["1"]["_meta"]["title"]  # display name as title
    del graph["8"]  # no model: it would fail; it only tested the widget order
    out = comfy.run(graph)
    assert out["4"]["images"][0]["filename"].startswith("converted")
    [saved] = comfy.images(out, "4")
    assert (saved[..., :3] == pixels).all(), "the bypassed ImageInvert must pass the image through unchanged"


def test_seed_inputs_get_the_frontends_control_slot_unless_they_opt_out():
    info = {"Legacy": {"input": {"required": {"seed": ["INT", {}], "steps": ["INT", {}]}}, "output": []},
            "OptOut": {"input": {"required": {"seed": ["INT", {"control_after_generate": False}],
                                              "steps": ["INT", {}]}}, "output": []}}
    info = {k: specs.trim(v) for k, v in info.items()}  # node_specs.json keeps the opt-out

    def converted(class_type, values):
        node = {"id": 1, "type": class_type, "mode": 0, "inputs": [], "outputs": [], "widgets_values": values}
        return convert.ui_to_api({"nodes": [node], "links": []}, specs.specs(info))["1"]["inputs"]

    assert converted("Legacy", [7, "fixed", 3]) == {"seed": 7, "steps": 3}
    assert converted("OptOut", [7, 3]) == {"seed": 7, "steps": 3}


def test_converter_refuses_subgraphs_and_unknown_nodes_with_a_way_out():
    with pytest.raises(convert.ConversionError, match="Unpack"):
        convert.ui_to_api({"nodes": [], "links": [], "definitions": {"subgraphs": [{"id": "x"}]}}, {})
    with pytest.raises(convert.ConversionError, match="NoSuchNode.*not installed"):
        convert.ui_to_api({"nodes": [{"id": 1, "type": "NoSuchNode", "mode": 0}], "links": []}, {})


@pytest.mark.parametrize("name", NAMES)
def test_the_frontends_download_links_are_only_files_it_will_download(name):
    links = [m for node in ui(name)["nodes"] for m in node.get("properties", {}).get("models", [])]
    assert links, "the Qwen files are offered for download in the missing-model dialog"
    for link in links:  # the frontend lists anything else with an error instead of a download button
        assert link["name"].endswith(shipped.FRONTEND_DOWNLOAD_SUFFIXES), link
        assert link["url"].startswith(shipped.FRONTEND_DOWNLOAD_HOSTS), link
