"""`python -m likeness dataset export`: a Dataset Writer folder becomes a ready-to-run Qwen-Image-2512 LoRA job for
ai-toolkit, musubi-tuner and diffusers. The configs parse and hold the documented keys, the scripts pass `bash -n`
and, run with stand-in `python`/`accelerate`, hand each trainer only arguments its parser has; bad datasets fail
with a message that names the input and the fix; nothing of another dataset is overwritten."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from likeness.dataset import export as ex
from likeness.dataset import writer
from likeness.dataset.export_cli import main as cli
from likeness.errors import LikenessError

TRIGGER = "ohwx man"

# ------------------------------------------------------------------------------------------------ the documented
# ostris/ai-toolkit config/examples/train_lora_qwen_image_24gb.yaml (+ train.timestep_type from the qwen_image
# entries of ui/src/app/jobs/new/options.ts, train.lr_scheduler from TrainConfig in toolkit/config_modules.py):
# the keys a qwen_image job has, by section.
AITK_KEYS = {
    "process": {"type", "training_folder", "device", "network", "save", "datasets", "train", "model", "sample",
                "trigger_word", "performance_log_every"},
    "network": {"type", "linear", "linear_alpha"},
    "save": {"dtype", "save_every", "max_step_saves_to_keep"},
    "dataset": {"folder_path", "caption_ext", "default_caption", "caption_dropout_rate", "shuffle_tokens",
                "cache_latents_to_disk", "resolution"},
    "train": {"batch_size", "cache_text_embeddings", "steps", "gradient_accumulation", "train_unet",
              "train_text_encoder", "gradient_checkpointing", "noise_scheduler", "optimizer", "lr", "dtype",
              "skip_first_sample", "disable_sampling", "timestep_type", "lr_scheduler"},
    "model": {"name_or_path", "arch", "quantize", "qtype", "quantize_te", "qtype_te", "low_vram"},
    "sample": {"sampler", "sample_every", "width", "height", "prompts", "neg", "seed", "walk_seed",
               "guidance_scale", "sample_steps"},
}

# kohya-ss/musubi-tuner src/musubi_tuner/dataset/config_utils.py, ConfigSanitizer (commit 30c658c): a voluptuous
# Schema without Required markers and no extra keys. musubi-tuner is not on PyPI (and its reader imports torch and
# its dataset classes), so the TOML is checked against this copy of the schema instead of musubi's own reader.
ASCENDABLE = {"caption_extension": str, "batch_size": int, "num_repeats": int, "resolution": "int_or_pair",
              "enable_bucket": bool, "bucket_no_upscale": bool}
IMAGE_DISTINCT = {"image_directory": str, "image_jsonl_file": str, "cache_directory": str, "control_directory": str,
                  "multiple_target": bool, "fp_latent_window_size": int, "fp_1f_clean_indices": list,
                  "fp_1f_target_index": int, "fp_1f_no_post": bool, "no_resize_control": bool,
                  "control_resolution": "int_or_pair"}


def _parser(flags: set[str], values: dict[str, object]) -> argparse.ArgumentParser:
    """A stand-in for a trainer's argparse: exactly the recorded arguments, flags as store_true, values typed."""
    p = argparse.ArgumentParser(exit_on_error=False, add_help=False)
    for f in flags:
        p.add_argument(f"--{f}", action="store_true")
    for v, kind in values.items():
        kw = {"choices": kind} if isinstance(kind, tuple) else {"nargs": "+"} if kind == "+" else {"type": kind}
        p.add_argument(f"--{v}", **kw)
    return p


SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
# musubi-tuner: src/musubi_tuner/training/parser_common.py, qwen_image_train_network.py,
# qwen_image/qwen_image_utils.py (add_model_version_args), cache_latents.py, cache_text_encoder_outputs.py,
# qwen_image_cache_text_encoder_outputs.py (commit 30c658c); usage in docs/qwen_image.md.
MODEL_VERSION = {"model_version": ("original", "layered", "edit", "edit-2509", "edit-2511")}
MUSUBI = {
    "qwen_image_cache_latents.py": _parser(
        {"skip_existing", "keep_cache", "vae_tiling", "edit", "edit_plus"},
        {"dataset_config": str, "vae": str, "vae_dtype": str, "device": str, "batch_size": int, "num_workers": int,
         "debug_mode": str, **MODEL_VERSION}),
    "qwen_image_cache_text_encoder_outputs.py": _parser(
        {"skip_existing", "keep_cache", "fp8_vl", "edit", "edit_plus"},
        {"dataset_config": str, "text_encoder": str, "device": str, "batch_size": int, "num_workers": int,
         **MODEL_VERSION}),
    "qwen_image_train_network.py": _parser(
        {"sdpa", "xformers", "flash_attn", "split_attn", "fp8_base", "fp8_scaled", "fp8_vl", "gradient_checkpointing",
         "gradient_checkpointing_cpu_offload", "persistent_data_loader_workers", "disable_numpy_memmap", "edit",
         "edit_plus"},
        {"dit": str, "vae": str, "text_encoder": str, "dataset_config": str, "mixed_precision": ("no", "fp16", "bf16"),
         "blocks_to_swap": int, "timestep_sampling": str, "weighting_scheme": str, "discrete_flow_shift": float,
         "optimizer_type": str, "optimizer_args": "+", "learning_rate": float,
         "lr_scheduler": SCHEDULERS + ("adafactor", "rex"), "lr_warmup_steps": float, "max_grad_norm": float,
         "max_data_loader_n_workers": int, "network_module": str, "network_dim": int, "network_alpha": float,
         "max_train_steps": int, "max_train_epochs": int, "save_every_n_steps": int, "save_every_n_epochs": int,
         "seed": int, "output_dir": str, "output_name": str, **MODEL_VERSION}),
}
# huggingface/diffusers examples/dreambooth/train_dreambooth_lora_qwen_image.py, parse_args()
DIFFUSERS = _parser(
    {"gradient_checkpointing", "use_8bit_adam", "cache_latents", "offload", "center_crop", "random_flip",
     "with_prior_preservation", "scale_lr", "allow_tf32", "upcast_before_saving", "push_to_hub",
     "skip_final_inference"},
    {"pretrained_model_name_or_path": str, "bnb_quantization_config_path": str, "revision": str, "variant": str,
     "dataset_name": str, "dataset_config_name": str, "instance_data_dir": str, "cache_dir": str,
     "image_column": str, "caption_column": str, "repeats": int, "instance_prompt": str, "class_prompt": str,
     "class_data_dir": str, "max_sequence_length": int, "validation_prompt": str, "num_validation_images": int,
     "validation_epochs": int, "rank": int, "lora_alpha": int, "lora_dropout": float, "output_dir": str,
     "seed": int, "resolution": int, "train_batch_size": int, "num_train_epochs": int, "max_train_steps": int,
     "checkpointing_steps": int, "checkpoints_total_limit": int, "resume_from_checkpoint": str,
     "gradient_accumulation_steps": int, "learning_rate": float, "lr_scheduler": SCHEDULERS,
     "lr_warmup_steps": int, "lr_num_cycles": int, "dataloader_num_workers": int,
     "weighting_scheme": ("sigma_sqrt", "logit_normal", "mode", "cosmap", "none"), "optimizer": str,
     "adam_weight_decay": float, "lora_layers": str, "max_grad_norm": float, "report_to": str,
     "logging_dir": str, "mixed_precision": ("no", "fp16", "bf16")})
ACCELERATE = _parser(set(), {"num_cpu_threads_per_process": int, "mixed_precision": ("no", "fp16", "bf16")})


# ------------------------------------------------------------------------------------------------ fixtures
def make_dataset(folder: Path, verdicts=("pass", "pass", "fail"), caption=f"{TRIGGER}, a man in a suit") -> Path:
    """A dataset written by the real Dataset Writer engine: images, captions, metadata.jsonl, face crops."""
    rng = np.random.default_rng(len(verdicts))
    for i, v in enumerate(verdicts):
        rgb = rng.integers(0, 255, (96, 64, 3), dtype=np.uint8)
        score = None if v is None else {"similarity": 0.7 if v == "pass" else 0.2, "verdict": v, "threshold": 0.5}
        writer.write_batch(folder, [rgb], [score], caption, "prompt", i, [], find=lambda rgb, j: (8, 8, 40, 40),
                           crop_size=32)
    return folder


@pytest.fixture
def models(tmp_path) -> Path:
    root = tmp_path / "ComfyUI models"
    for folder, name in ex.MUSUBI_FILES.values():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_bytes(b"stand-in")
    return root


@pytest.fixture
def no_comfyui(monkeypatch):
    """No ComfyUI to find: neither around the dataset, nor the pack's, nor COMFYUI_PATH."""
    import likeness.models.installer as installer

    monkeypatch.setattr(installer, "find_comfyui", lambda explicit=None: None)


def invocations(script: Path, tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run an exported script with `python` and `accelerate` replaced by recorders; returns what they were given."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir(exist_ok=True)
    recorder = bin_dir / "record.py"
    recorder.write_text("import json, os, sys\nwith open(os.environ['CALLS'], 'a') as f:\n"
                        "    f.write(json.dumps([os.path.basename(sys.argv[1])] + sys.argv[2:]) + '\\n')\n")
    for tool in ("python", "accelerate"):
        (bin_dir / tool).write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {recorder} {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env={**os.environ, **env, "CALLS": str(log), "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def split_call(call: list[str]) -> tuple[str, list[str], list[str]]:
    """(script name, launcher args, script args) of a recorded `python X.py ...` or `accelerate launch ... X.py ...`."""
    tool, args = call[0], call[1:]
    if tool == "accelerate":
        assert args[0] == "launch"
        args = args[1:]
    i = next(i for i, a in enumerate(args) if a.endswith(".py"))
    return Path(args[i]).name, args[:i], args[i + 1:]


# ------------------------------------------------------------------------------------------------ configs
def test_ai_toolkit_yaml_is_a_qwen_image_24gb_job_with_the_trigger_in_every_caption_and_prompt(tmp_path, models):
    data = make_dataset(tmp_path / "my data" / "anna")
    r = ex.export(data, "ai-toolkit", models_dir=models)
    [path] = r.files["ai-toolkit"]
    assert path == data / "anna.ai-toolkit.yaml" and path.is_absolute()
    job = yaml.safe_load(path.read_text())
    assert job["job"] == "extension" and job["config"]["name"] == "anna"
    [proc] = job["config"]["process"]
    assert set(proc) <= AITK_KEYS["process"] and "trigger_word" not in proc  # cached embeddings ignore it
    for section in ("network", "save", "train", "model", "sample"):
        assert set(proc[section]) <= AITK_KEYS[section], section
    [ds] = proc["datasets"]
    assert set(ds) <= AITK_KEYS["dataset"]
    assert proc["model"] == {"name_or_path": "Qwen/Qwen-Image-2512", "arch": "qwen_image", "quantize": True,
                             "qtype": "uint3|ostris/accuracy_recovery_adapters/qwen_image_2512_torchao_uint3."
                                      "safetensors", "quantize_te": True, "qtype_te": "qfloat8", "low_vram": True}
    assert proc["train"]["cache_text_embeddings"] is True and proc["train"]["gradient_checkpointing"] is True
    assert proc["network"] == {"type": "lora", "linear": 32, "linear_alpha": 32}
    assert ds["resolution"] == [1024] and ds["caption_ext"] == "txt"
    assert 1000 <= proc["train"]["steps"] <= 3000 and proc["train"]["lr"] == 1e-4
    assert proc["train"]["lr_scheduler"] == "cosine"
    assert all(TRIGGER in p for p in proc["sample"]["prompts"]) and proc["sample"]["prompts"]
    folder, out = Path(ds["folder_path"]), Path(proc["training_folder"])
    assert folder.is_absolute() and folder.is_dir() and out.is_absolute() and out.parent.parent == data
    # the training folder: the dataset's images (hard links), their captions, no faces/ sub-folder to walk into
    images = sorted(p.name for p in folder.glob("*.png"))
    assert images == sorted(p.name for p in data.glob("*.png")) and len(images) == 3
    assert not [p for p in folder.iterdir() if p.is_dir()]
    for name in images:
        assert os.path.samefile(folder / name, data / name)
        assert TRIGGER in (folder / name).with_suffix(".txt").read_text()


def test_musubi_toml_matches_musubis_dataset_schema(tmp_path, models):
    data = make_dataset(tmp_path / "anna")
    r = ex.export(data, "musubi", models_dir=models)
    toml_path = next(p for p in r.files["musubi"] if p.suffix == ".toml")
    config = tomllib.loads(toml_path.read_text())
    assert set(config) <= {"general", "datasets"}

    def check(section: dict, schema: dict) -> None:
        assert set(section) <= set(schema), set(section) - set(schema)
        for key, value in section.items():
            kind = schema[key]
            if kind == "int_or_pair":
                assert isinstance(value, int) or (isinstance(value, list) and len(value) == 2
                                                  and all(isinstance(v, int) for v in value)), key
            else:
                assert isinstance(value, kind) and not (kind is int and isinstance(value, bool)), key

    check(config["general"], ASCENDABLE)
    assert config["general"]["resolution"] == [1024, 1024] and config["general"]["caption_extension"] == ".txt"
    assert config["general"]["enable_bucket"] is True
    caches = []
    for ds in config["datasets"]:
        check(ds, {**ASCENDABLE, **IMAGE_DISTINCT})
        images = Path(ds["image_directory"])
        assert images.is_absolute() and images.is_dir()
        pngs = list(images.glob("*.png"))
        assert len(pngs) == 3 and all(p.with_suffix(config["general"]["caption_extension"]).is_file() for p in pngs)
        caches.append(Path(ds["cache_directory"]))
        assert caches[-1].is_absolute() and caches[-1] != images
    assert len(set(caches)) == len(caches)  # musubi refuses datasets sharing a cache directory


def test_musubi_script_gives_each_step_only_arguments_its_parser_has(tmp_path, models):
    data = make_dataset(tmp_path / "my data" / "anna")
    r = ex.export(data, "musubi", models_dir=models, rank=16, steps=1200)
    sh = next(p for p in r.files["musubi"] if p.suffix == ".sh")
    assert subprocess.run(["bash", "-n", str(sh)]).returncode == 0 and os.access(sh, os.X_OK)
    (tmp_path / "musubi-tuner").mkdir()
    proc, calls = invocations(sh, tmp_path, MUSUBI_TUNER_DIR=str(tmp_path / "musubi-tuner"))
    assert proc.returncode == 0, proc.stderr
    parsed = {}
    for call in calls:
        script, launcher, args = split_call(call)
        if launcher:
            assert vars(ACCELERATE.parse_args(launcher))["mixed_precision"] == "bf16"
        parsed[script] = MUSUBI[script].parse_args(args)  # an unknown argument or bad value raises here
    assert list(parsed) == ["qwen_image_cache_latents.py", "qwen_image_cache_text_encoder_outputs.py",
                            "qwen_image_train_network.py"]
    train = parsed["qwen_image_train_network.py"]
    assert train.fp8_base and train.fp8_scaled and train.gradient_checkpointing and train.sdpa
    assert 16 <= train.blocks_to_swap <= 45  # docs/qwen_image.md: 16 is ~24 GB, beyond 45 main RAM grows
    assert train.network_module == "networks.lora_qwen_image" and train.network_dim == 16
    assert train.lr_scheduler == "cosine" and train.mixed_precision == "bf16" and train.max_train_steps == 1200
    assert train.output_name == "anna" and Path(train.output_dir).is_absolute()
    for step in parsed.values():
        assert Path(step.dataset_config) == sh.with_suffix(".toml") and step.model_version == "original"
    for role in ("dit", "vae", "text_encoder"):
        assert Path(getattr(train, role)) == models / ex.MUSUBI_FILES[role][0] / ex.MUSUBI_FILES[role][1]
    assert parsed["qwen_image_cache_latents.py"].vae == train.vae
    assert parsed["qwen_image_cache_text_encoder_outputs.py"].text_encoder == train.text_encoder


def test_diffusers_script_uses_the_captions_and_a_4bit_base(tmp_path, models):
    data = make_dataset(tmp_path / "my data" / "anna")
    r = ex.export(data, "diffusers", models_dir=models)
    sh = next(p for p in r.files["diffusers"] if p.suffix == ".sh")
    assert subprocess.run(["bash", "-n", str(sh)]).returncode == 0
    (tmp_path / "diffusers" / "examples" / "dreambooth").mkdir(parents=True)
    proc, calls = invocations(sh, tmp_path, DIFFUSERS_DIR=str(tmp_path / "diffusers"))
    assert proc.returncode == 0, proc.stderr
    [call] = calls
    script, launcher, args = split_call(call)
    assert script == "train_dreambooth_lora_qwen_image.py" and launcher == []
    a = DIFFUSERS.parse_args(args)
    assert a.pretrained_model_name_or_path == "Qwen/Qwen-Image-2512" and a.instance_prompt == TRIGGER
    assert a.rank == 32 and a.lora_alpha == 32 and a.lr_scheduler == "cosine" and a.resolution == 1024
    assert a.gradient_checkpointing and a.mixed_precision == "bf16" and Path(a.output_dir).is_absolute()
    assert a.instance_data_dir is None and a.caption_column == "text" and a.image_column == "image"
    assert json.loads(Path(a.bnb_quantization_config_path).read_text()) == {"load_in_4bit": True,
                                                                           "bnb_4bit_quant_type": "nf4"}
    # --dataset_name is a Hugging Face imagefolder: metadata.jsonl names every image and gives its caption
    folder = Path(a.dataset_name)
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert sorted(r["file_name"] for r in rows) == sorted(p.name for p in folder.glob("*.png"))
    assert all(TRIGGER in r["text"] for r in rows) and len(rows) == 3


def test_only_passed_drops_the_failing_and_unscored_items(tmp_path, models):
    data = make_dataset(tmp_path / "anna", verdicts=("pass", "fail", None, "pass"))
    records = writer.read_metadata(data)
    failed = {r["file"] for r in records if (r["identity"] or {}).get("verdict") != "pass"}
    r = ex.export(data, "all", models_dir=models, only_passed=True)
    assert r.images == 2 and set(r.dropped) == failed and len(failed) == 2
    kept = {p.name for p in r.train_dir.glob("*.png")}
    assert kept == {rec["file"] for rec in records} - failed
    config = tomllib.loads((data / "anna.musubi.toml").read_text())
    assert Path(config["datasets"][0]["image_directory"]) == r.train_dir == data / "anna.train-passed"
    yml = yaml.safe_load((data / "anna.ai-toolkit.yaml").read_text())
    assert Path(yml["config"]["process"][0]["datasets"][0]["folder_path"]) == r.train_dir
    # an image deleted from the dataset leaves the training folder at the next export
    gone = sorted(kept)[0]
    (data / gone).unlink()
    ex.export(data, "all", models_dir=models, only_passed=True)
    assert {p.name for p in r.train_dir.glob("*.png")} == kept - {gone}
    assert not (r.train_dir / gone).with_suffix(".txt").exists()


def test_models_are_found_in_the_datasets_comfyui_or_flagged_as_a_placeholder(tmp_path, models, no_comfyui):
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "vae").mkdir(parents=True)
    (comfy / "main.py").write_text("")
    (comfy / "models" / "vae" / "qwen_image_vae.safetensors").write_bytes(b"x")
    data = make_dataset(comfy / "output" / "Likeness" / "datasets" / "anna")
    r = ex.export(data, "musubi")
    text = (data / "anna.musubi.sh").read_text()
    assert str(comfy / "models" / "vae" / "qwen_image_vae.safetensors") in text
    assert any("not in" in w and "qwen_image_2512_bf16" in w for w in r.warnings)  # DiT + TE still to download
    proc, calls = invocations(data / "anna.musubi.sh", tmp_path, MUSUBI_TUNER_DIR=str(tmp_path))
    assert proc.returncode == 1 and calls == [] and "missing model file" in proc.stderr
    assert "Comfy-Org/Qwen-Image_ComfyUI" in proc.stderr
    # nowhere to find them: an obvious placeholder, said in the output and in the script
    lone = make_dataset(tmp_path / "lone" / "bob")
    r = ex.export(lone, "musubi")
    text = (lone / "bob.musubi.sh").read_text()
    assert str(ex.PLACEHOLDER) in text and "EDIT-ME" in text.splitlines()[3]
    assert any(str(ex.PLACEHOLDER) in w and "--models-dir" in w for w in r.warnings)


def test_cli_writes_every_trainer_and_reports_the_run_commands(tmp_path, models, capsys):
    data = make_dataset(tmp_path / "anna")
    out = tmp_path / "configs"
    assert cli(["export", str(data), "--for", "all", "--out", str(out), "--models-dir", str(models),
                "--name", "anna_v1", "--rank", "16"]) == 0
    printed = capsys.readouterr().out
    for f in ("anna_v1.ai-toolkit.yaml", "anna_v1.musubi.toml", "anna_v1.musubi.sh", "anna_v1.diffusers.sh"):
        assert (out / f).is_file() and str(out / f) in printed
    assert "trigger 'ohwx man'" in printed and "python run.py" in printed
    assert yaml.safe_load((out / "anna_v1.ai-toolkit.yaml").read_text())["config"]["process"][0]["network"][
        "linear"] == 16
    from likeness.__main__ import main as likeness_main

    assert likeness_main(["dataset", "export", str(data), "--for", "musubi", "--out", str(out), "--name",
                          "anna_v1", "--models-dir", str(models)]) == 0  # re-export: same owner, allowed


# ------------------------------------------------------------------------------------------------ bad input
def bad_dataset(tmp_path: Path, kind: str) -> tuple[Path, dict]:
    d, kw = tmp_path / "ds", {}
    if kind == "missing":
        return d, kw
    if kind == "file":
        d.write_text("x")
        return d, kw
    d.mkdir()
    if kind == "empty":
        return d, kw
    if kind == "no images":
        (d / "metadata.jsonl").write_text("")
        return d, kw
    make_dataset(d)
    first = sorted(d.glob("*.png"))[0]
    if kind == "no caption":
        first.with_suffix(".txt").unlink()
    elif kind == "unreadable":
        first.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif kind == "no trigger":
        first.with_suffix(".txt").write_text("a man in a suit\n")
        kw = {"trigger": TRIGGER}
    elif kind == "disagree":
        first.with_suffix(".txt").write_text("sks person, a man in a suit\n")
    elif kind == "none passed":
        for line in (d / "metadata.jsonl").read_text().splitlines():
            rec = json.loads(line)
            rec["identity"]["verdict"] = "fail"
            writer.append_metadata(d, [rec])
        kw = {"only_passed": True}
    elif kind == "bad metadata":
        (d / "metadata.jsonl").write_text((d / "metadata.jsonl").read_text() + "{not json\n")
    return d, kw


@pytest.mark.parametrize("kind, says", [
    ("missing", ["does not exist", "Dataset Writer"]),
    ("file", ["is a file", "Dataset Writer"]),
    ("empty", ["is not a dataset", "no images", "Dataset Writer"]),
    ("no images", ["has no images", "Add images"]),
    ("no caption", ["without a caption", "{first_name}", "write a .txt"]),
    ("unreadable", ["unreadable image", "{first_name}", "delete them"]),
    ("no trigger", ["without the trigger 'ohwx man'", "{first_txt}", "add the trigger"]),
    ("disagree", ["disagree", "'sks person'", "--trigger"]),
    ("none passed", ["--only-passed leaves no image", "fail 3", "without --only-passed"]),
    ("bad metadata", ["metadata.jsonl: line 4 is not JSON", "Fix that line"]),
])
def test_bad_datasets_fail_with_the_input_and_the_fix(tmp_path, models, kind, says):
    d, kw = bad_dataset(tmp_path, kind)
    pngs = sorted(d.glob("*.png")) if d.is_dir() else []
    with pytest.raises(LikenessError) as err:
        ex.export(d, "all", models_dir=models, **kw)
    message = str(err.value)
    assert str(d) in message
    for s in says:
        s = s.format(first_name=pngs[0].name if pngs else "", first_txt=pngs[0].with_suffix(".txt").name
                     if pngs else "")
        assert s in message, message
    assert not list(d.glob("*.yaml")) if d.is_dir() else True  # nothing written


def test_bad_options_and_the_cli_never_show_a_traceback(tmp_path, models, capsys):
    data = make_dataset(tmp_path / "anna")
    for kw, says in [({"rank": 0}, "--rank 0"), ({"steps": 5}, "--steps 5"), ({"trainers": "kohya"}, "kohya"),
                     ({"models_dir": tmp_path / "nope"}, "--models-dir"), ({"name": "///"}, "--name")]:
        with pytest.raises(LikenessError, match=r"\S") as err:
            ex.export(data, **{"trainers": "all", "models_dir": models, **kw})
        assert says in str(err.value)
    assert cli(["export", str(tmp_path / "nothing"), "--for", "musubi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and "Traceback" not in err


def test_never_overwrites_another_datasets_or_a_hand_written_file(tmp_path, models):
    out = tmp_path / "configs"
    a = make_dataset(tmp_path / "a" / "anna")
    b = make_dataset(tmp_path / "b" / "anna", verdicts=("pass",))
    ex.export(a, "all", out=out, models_dir=models)
    before = {p: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(LikenessError, match="belong.*export of .*a/anna.*--name") as err:
        ex.export(b, "all", out=out, models_dir=models)
    assert "anna.ai-toolkit.yaml" in str(err.value)
    assert {p: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert len(list((out / "anna.train").glob("*.png"))) == 3  # a's training folder untouched
    r = ex.export(b, "all", out=out, models_dir=models, name="anna_b")
    assert r.images == 1 and (out / "anna_b.musubi.toml").is_file()
    # a file of the same name this tool did not write is left alone
    c = make_dataset(tmp_path / "c" / "carl")
    (c / "carl.musubi.toml").write_text("# mine\n")
    with pytest.raises(LikenessError, match="not written by an export of this dataset"):
        ex.export(c, "musubi", models_dir=models)
    assert (c / "carl.musubi.toml").read_text() == "# mine\n" and not (c / "carl.musubi.sh").exists()


# ------------------------------------------------------------------------------------------------ the node
def test_export_node_writes_into_the_dataset_inside_comfyuis_output(comfy):
    from likeness.runner.client import ExecutionFailed

    data = make_dataset(comfy.output_dir / "Likeness" / "datasets" / "node_export")
    # a VAE in a sub-folder of the server's extra_model_paths vae folder (a name no workflow uses)
    vae = comfy.models_dir / "vae" / "likeness-export-test" / "qwen_image_vae.safetensors"
    vae.parent.mkdir(parents=True, exist_ok=True)
    vae.write_bytes(b"stand-in")
    try:
        out = comfy.run({"x": {"class_type": "LikenessExportDataset", "inputs": {
            "dataset": "node_export", "trainer": "musubi", "trigger": "", "only_passed": True, "rank": 32,
            "steps": 0}}})
    finally:
        vae.unlink()
        vae.parent.rmdir()
    text = out["x"]["text"][0]
    assert "2 image(s), trigger 'ohwx man'" in text and "musubi" in text
    config = tomllib.loads((data / "node_export.musubi.toml").read_text())
    assert Path(config["datasets"][0]["image_directory"]) == data / "node_export.train-passed"
    script = (data / "node_export.musubi.sh").read_text()
    assert f"--vae {vae}" in script  # found through the server's model folders, not only ComfyUI/models
    with pytest.raises(ExecutionFailed, match="not a folder inside ComfyUI's output folder"):
        comfy.run({"x": {"class_type": "LikenessExportDataset", "inputs": {
            "dataset": "../../etc", "trainer": "all", "trigger": "", "only_passed": False, "rank": 32,
            "steps": 0}}})
