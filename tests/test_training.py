"""The flywheel on tiny models: dataset-enrichment writes a dataset → train-character-lora trains a LoRA on it with
ComfyUI's own trainer (the loss falls) and saves it into models/loras → character-lora generates with it through
LoRA Stack and reports the pass rate. Runs on the newest ComfyUI the suite is given (COMFYUI_PATH); the core's
Train LoRA as the workflow wires it needs 0.19.0+, and an older core gets a clear refusal instead."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.workflow_lab import start_lab, tiny_sets, write_dataset

REPO = Path(__file__).resolve().parents[1]
STEPS = 120


@pytest.fixture(scope="module")
def lab(tmp_path_factory, faces_dir):
    lab = start_lab(tmp_path_factory.mktemp("training"), faces_dir)
    yield lab
    lab.server.stop()


def run(lab, name: str, out: Path, *extra: str, batch: str | None = None) -> subprocess.CompletedProcess:
    args = [name, "--server", lab.server.url, "--out", str(out)] + (["--batch", batch] if batch else [])
    if name != "train-character-lora":
        args += ["--image", f"Reference={lab.reference}"]
    for setting in tiny_sets(lab, name) + list(extra):
        args += ["--set", setting]
    return subprocess.run([sys.executable, "-m", "likeness", "run", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


def lora_metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()


def saved_image(out: Path) -> np.ndarray:
    [png] = sorted(p for p in out.rglob("*.png") if "faces" not in p.parts)
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)


def test_a_lora_trained_on_the_enriched_dataset_learns_and_changes_character_lora(lab, tmp_path):
    lab.server.require_core_for("train-character-lora")
    scenes = tmp_path / "scenes.txt"
    scenes.write_text("walking in a park\nreading in a library\nstanding on a pier\n")
    made = run(lab, "dataset-enrichment", tmp_path / "enrich", "Identity Gate.if_none_pass=keep best",
               batch=f"Scene.value={scenes}")
    assert made.returncode == 0, made.stdout + made.stderr
    dataset = lab.server.output_dir / "Likeness" / "datasets" / "character"
    captions = sorted(p.read_text().strip() for p in dataset.glob("*.txt"))
    assert len(captions) == 3 and all(c.startswith("ohwx person, ") for c in captions), captions

    trained = run(lab, "train-character-lora", tmp_path / "train", f"Train LoRA.steps={STEPS}",
                  "Train LoRA.learning_rate=0.002", "Train LoRA.lora_dtype=fp32")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    lora = lab.server.models_dir / "loras" / "likeness_character.safetensors"
    meta = lora_metadata(lora)
    assert meta["likeness.trigger"] == "ohwx person" and meta["likeness.steps"] == str(STEPS)
    loss = json.loads(meta["likeness.loss"])
    assert len(loss) == STEPS
    first, last = np.mean(loss[:STEPS // 4]), np.mean(loss[-STEPS // 4:])
    assert last < 0.8 * first, f"the loss did not fall on 6 images it can overfit: {first:.4f} → {last:.4f}"

    with_lora = run(lab, "character-lora", tmp_path / "with", "LoRA Stack.lora_1=likeness_character.safetensors")
    without = run(lab, "character-lora", tmp_path / "without", "LoRA Stack.on_1=false")
    assert with_lora.returncode == 0 and without.returncode == 0, with_lora.stdout + with_lora.stderr
    summary = json.loads((tmp_path / "with" / "likeness-run.json").read_text())
    [report] = summary["results"][0]["texts"]["Apply LoRA Stack"]
    matched, total = (int(n) for n in report.split("matched ")[1].split(" layers")[0].split(" of "))
    assert matched == total > 0, report
    assert np.abs(saved_image(tmp_path / "with") - saved_image(tmp_path / "without")).max() > 0
    assert "kept the identity" in with_lora.stdout + with_lora.stderr  # the pass rate, as for the other modes

    again = run(lab, "train-character-lora", tmp_path / "again", "Train LoRA.steps=2")
    assert again.returncode == 0 and lora_metadata(lora)["likeness.steps"] == str(STEPS), "never overwritten"
    assert (lora.parent / "likeness_character_2.safetensors").is_file()


@pytest.mark.parametrize("damage, message", [
    ("caption", "without a caption"),
    ("image", "unreadable image"),
    ("empty", "no images"),
])
def test_a_broken_dataset_is_refused_with_what_to_fix(lab, tmp_path, damage, message):
    lab.server.require_core_for("train-character-lora")
    folder = write_dataset(lab.server.output_dir / "Likeness" / "datasets" / f"broken-{damage}", lab.reference)
    images = sorted(folder.glob("*.png"))
    if damage == "caption":
        images[0].with_suffix(".txt").unlink()
    elif damage == "image":
        images[1].write_bytes(b"not a png")
    else:
        for p in images:
            p.unlink()
    res = run(lab, "train-character-lora", tmp_path, f"Load Character Dataset.dataset=broken-{damage}")
    assert res.returncode != 0
    assert message in res.stdout + res.stderr and "Load Character Dataset" in res.stdout + res.stderr
    if damage != "empty":
        assert images[0 if damage == "caption" else 1].name in res.stdout + res.stderr  # the file to fix


def test_an_older_core_is_told_which_comfyui_to_update_to(lab, tmp_path):
    if lab.server.version() >= (0, 19, 0):
        pytest.skip("needs ComfyUI older than 0.19.0 to see the refusal (this one can train)")
    res = run(lab, "train-character-lora", tmp_path)
    assert res.returncode != 0 and "needs ComfyUI 0.19.0 or newer" in res.stderr
    assert "nothing was queued" in res.stderr and lab.server.client._json("GET", "/queue")["queue_pending"] == []
