"""ComfyUI's own web frontend decides what a shipped workflow means. Each UI file is loaded by the frontend (the
version the ComfyUI under test pins, and the registry's newest) in headless Chromium, converted with
`app.graphToPrompt()`, compared with our API twin, and queued on tiny models; on screen, group titles, notes and
the first group are not hidden."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import Frontend, frontend_static, frontend_version, need_chromium
from comfy_server import comfyui_path
from fixtures.workflow_lab import start_lab, tiny_sets, write_dataset
from likeness.workflows import shipped

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = list(shipped.SHIPPED)


def ui(name: str) -> dict:
    return json.loads((REPO / "workflows" / f"{name}.json").read_text())


@pytest.fixture(scope="module", params=["pinned", "newest"])
def site(request, tmp_path_factory, faces_dir):
    """A lab server serving the frontend package, and that frontend open in Chromium."""
    need_chromium()
    version = frontend_version(request.param, comfyui_path())
    base = tmp_path_factory.mktemp(f"frontend-{version}")
    lab = start_lab(base, faces_dir, frontend_root=frontend_static(version))
    try:
        page = Frontend(lab.server.url, base / "chromium")
    except BaseException:
        lab.server.stop()
        raise
    lab.page, lab.version = page, version
    yield lab
    page.close()
    lab.server.stop()


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_frontend_converts_each_workflow_into_our_api_twin(site, name):
    site.server.require_core_for(name)
    site.page.load(ui(name))
    output = site.page.to_prompt()["output"]
    twin = json.loads((REPO / "workflows" / "api" / f"{name}.json").read_text())
    assert {k: (v["class_type"], v["inputs"]) for k, v in output.items()} == \
           {k: (v["class_type"], v["inputs"]) for k, v in twin.items()}, f"frontend {site.version}"


def widget_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


@pytest.mark.parametrize("name", WORKFLOWS)
def test_each_workflow_queued_from_the_frontend_runs_on_tiny_models(site, name):
    page, server = site.page, site.server
    server.require_core_for(name)
    page.load(ui(name))
    if name == "train-character-lora":
        write_dataset(server.output_dir / "Likeness" / "datasets" / "frontend", site.reference)
        page.set("Load Character Dataset", "dataset", "frontend")
    else:
        page.set("Reference", "image", server.upload(site.reference, f"reference-{name}.png"))
    keep = ["Identity Gate.if_none_pass=keep best"] if name == "dataset-enrichment" else []  # random tiny weights
    for setting in tiny_sets(site, name) + keep:
        target, value = setting.split("=", 1)
        title, widget = target.rsplit(".", 1)
        page.set(title, widget, widget_value(value))
    prompt = page.to_prompt()
    # a reply that carries node_errors raises here: a dropped node is a failure, not a partial success
    outputs = server.client.run(prompt["output"], extra_data={"extra_pnginfo": {"workflow": prompt["workflow"]}})
    if name == "train-character-lora":
        lora = server.models_dir / "loras" / "likeness_frontend.safetensors"
        assert lora.is_file(), "the trained LoRA is saved into models/loras under the dataset's name"
        [curve] = [ref for out in outputs.values() for ref in out.get("images", [])]  # the loss curve
        image = io.BytesIO(server.client.fetch(curve))
    elif name == "dataset-enrichment":
        folder = server.output_dir / "Likeness" / "datasets" / "character"
        [record] = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
        image = folder / record["file"]
        assert image.with_suffix(".txt").read_text().strip() == record["caption"]
        assert np.array(Image.open(folder / record["face_crop"])).shape[:2] == (1024, 1024)
        assert record["identity"]["backend"] == "buffalo_l"
    else:
        [image] = [server.output_dir / ref.get("subfolder", "") / ref["filename"]
                   for out in outputs.values() for ref in out.get("images", []) if ref.get("type") == "output"]
        report = json.loads(image.with_name(image.name.replace("_.png", "_identity.json")).read_text())
        assert report["files"] == [image.name] and report["images"] == 1
    assert np.array(Image.open(image)).std() > 0


@pytest.mark.parametrize("name", WORKFLOWS)
def test_on_screen_nothing_covers_group_titles_notes_or_the_first_group(site, name, tmp_path):
    site.server.require_core_for(name)
    page = site.page
    page.load(ui(name))
    page.screenshot(tmp_path / f"{name}.png")
    seen = page.call("""
        const g = app.graph, ds = app.canvas.ds, rect = app.canvas.canvas.getBoundingClientRect();
        const titleHeight = gr => gr.titleHeight ?? gr.font_size * 1.4;
        const inside = (n, gr) => n.pos[0] >= gr.pos[0] && n.pos[0] < gr.pos[0] + gr.size[0]
                                  && n.pos[1] >= gr.pos[1] && n.pos[1] < gr.pos[1] + gr.size[1];
        const nodeTitle = LiteGraph.NODE_TITLE_HEIGHT;
        const covered = [];
        for (const gr of g._groups ?? g.groups)
            for (const n of g._nodes.filter(n => inside(n, gr)))
                if (n.pos[1] - nodeTitle < gr.pos[1] + titleHeight(gr)) covered.push(`${gr.title}: ${n.title}`);
        const overflowing = g._nodes.filter(n => n.type === 'MarkdownNote').map(n => {
            const box = n.widgets[0].element, text = box && (box.querySelector('.tiptap') ?? box);
            return text && text.scrollHeight > text.clientHeight + 1 ? `${n.title}: ${text.scrollHeight} > ${text.clientHeight}` : null;
        }).filter(Boolean);
        const first = (g._groups ?? g.groups).reduce((a, b) => (a.pos[0] + a.pos[1] <= b.pos[0] + b.pos[1] ? a : b));
        const y = (first.pos[1] + titleHeight(first) / 2 + ds.offset[1]) * ds.scale + rect.top;
        const hidden = [0.05, 0.5, 0.95].some(f => document.elementFromPoint(
            (first.pos[0] + f * first.size[0] + ds.offset[0]) * ds.scale + rect.left, y) !== app.canvas.canvas);
        return {covered, overflowing, firstHidden: hidden,
                first: first.title, colours: (g._groups ?? g.groups).map(gr => gr.color)};""")
    assert seen["covered"] == [], f"nodes cover their group's title ({site.version})"
    assert seen["overflowing"] == [], f"note text taller than its box ({site.version})"
    assert not seen["firstHidden"], f"the '{seen['first']}' group's title is under the frontend's bars"
    assert min(map(brightness, seen["colours"])) >= 0x70, "a group colour is nearly invisible on the dark theme"


def brightness(colour: str) -> int:
    digits = colour.lstrip("#")
    digits = "".join(d * 2 for d in digits) if len(digits) == 3 else digits
    return max(int(digits[i:i + 2], 16) for i in (0, 2, 4))
