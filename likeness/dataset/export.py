"""Export a dataset folder (the Dataset Writer's layout) as a ready-to-run character-LoRA job for Qwen-Image-2512
on a 24 GB GPU: a YAML for ostris/ai-toolkit, a dataset TOML + train script for kohya-ss/musubi-tuner, or the
diffusers DreamBooth-LoRA command.

The dataset is read and checked first (every image opens, has a caption, and every caption holds the trigger word),
then the chosen images go into a flat training folder beside the configs (hard links, or copies across drives,
plus their captions and a `metadata.jsonl` in the Hugging Face imagefolder format). The trainers read that folder,
never the dataset itself: ai-toolkit walks sub-folders (it would train on faces/ too) and the diffusers script
needs `file_name`/`text` metadata. Files are written atomically, and a file of another dataset (or one this tool
did not write) is never overwritten: `.likeness-export.json` in the output folder records which dataset owns what.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LikenessError
from ..fileio import atomic_path, atomic_write
from .reader import IMAGE_SUFFIXES, Item, listing, read_dataset

TRAINERS = ("ai-toolkit", "musubi", "diffusers")
OWNERS = ".likeness-export.json"
BASE_REPO = "Qwen/Qwen-Image-2512"  # diffusers-format repo: what ai-toolkit and the diffusers script load
PLACEHOLDER = Path("/EDIT-ME/ComfyUI/models")
COMFY_REPO = "https://huggingface.co/Comfy-Org/Qwen-Image_ComfyUI/resolve/main/split_files"
# Single files musubi-tuner loads (docs/qwen_image.md: bf16 only, "fp8_scaled ... cannot be used"), by ComfyUI folder.
MUSUBI_FILES = {"dit": ("diffusion_models", "qwen_image_2512_bf16.safetensors"),
                "text_encoder": ("text_encoders", "qwen_2.5_vl_7b.safetensors"),
                "vae": ("vae", "qwen_image_vae.safetensors")}
LR = 1e-4
SEED = 42


@dataclass
class Job:
    """Everything a trainer template needs: absolute paths and the settings chosen for this dataset."""
    dataset: Path
    out: Path
    name: str
    trigger: str
    items: list[Item]
    train_dir: Path
    rank: int
    steps: int
    models: dict[str, Path]           # musubi's single files (absolute; may be missing, then flagged)
    base: str                         # HF repo id or local diffusers folder for ai-toolkit / diffusers

    @property
    def save_every(self) -> int:
        return max(100, self.steps // 4)

    @property
    def warmup(self) -> int:
        return max(10, self.steps // 20)

    def output(self, trainer: str) -> Path:
        return self.out / f"{self.name}.lora" / trainer

    def prompts(self) -> list[str]:
        return [f"{self.trigger}, close-up portrait photo, soft window light",
                f"{self.trigger}, full body photo, walking down a city street at dusk",
                f"{self.trigger}, sitting in a cafe holding a coffee cup, candid photo"]


@dataclass
class ExportResult:
    dataset: Path
    name: str
    trigger: str
    train_dir: Path
    images: int
    dropped: list[str] = field(default_factory=list)
    files: dict[str, list[Path]] = field(default_factory=dict)
    run: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- models
def detect_models_dir(dataset: Path) -> Path | None:
    """ComfyUI's models folder: the ComfyUI the dataset lives in (output/…), the pack's, or COMFYUI_PATH's."""
    from ..models.installer import find_comfyui

    for parent in dataset.parents:
        if (parent / "main.py").is_file() and (parent / "models").is_dir():
            return parent / "models"
    comfy = find_comfyui()
    return comfy / "models" if comfy and (comfy / "models").is_dir() else None


def _find(roots: list[Path], folder: str, name: str) -> Path:
    """The first root/folder/name (or the name in a sub-folder of it) that exists; else the first root's path."""
    for root in roots:
        if (root / folder / name).exists():
            return root / folder / name
        if (root / folder).is_dir():
            found = next((p for p in sorted((root / folder).rglob(name)) if p.is_file()), None)
            if found:
                return found
    return roots[0] / folder / name


# ---------------------------------------------------------------------------------------------- trainer templates
def _header(job: Job, source: str, comment: str = "#") -> str:
    return (f"{comment} Written by `python -m likeness dataset export` for the dataset {job.dataset}\n"
            f"{comment} ({len(job.items)} images, trigger '{job.trigger}'); keys from {source}.\n")


def _ai_toolkit(job: Job) -> tuple[dict[str, str], str]:
    """One YAML job for `python run.py` in ostris/ai-toolkit."""
    import yaml

    # Keys and 24 GB values: ostris/ai-toolkit config/examples/train_lora_qwen_image_24gb.yaml; the 2512 base and
    # its 3-bit accuracy-recovery adapter: the 'qwen_image:2512' entry of ai-toolkit's ui/src/app/jobs/new/options.ts
    # (also train.timestep_type); train.lr_scheduler: TrainConfig in toolkit/config_modules.py, "cosine" in
    # toolkit/scheduler.py.
    process = {
        "type": "sd_trainer", "training_folder": str(job.output("ai-toolkit")), "device": "cuda:0",
        "network": {"type": "lora", "linear": job.rank, "linear_alpha": job.rank},
        "save": {"dtype": "float16", "save_every": job.save_every, "max_step_saves_to_keep": 4},
        "datasets": [{"folder_path": str(job.train_dir), "caption_ext": "txt", "caption_dropout_rate": 0.05,
                      "shuffle_tokens": False, "cache_latents_to_disk": True, "resolution": [1024]}],
        "train": {"batch_size": 1, "cache_text_embeddings": True, "steps": job.steps, "gradient_accumulation": 1,
                  "train_unet": True, "train_text_encoder": False, "gradient_checkpointing": True,
                  "noise_scheduler": "flowmatch", "timestep_type": "weighted", "optimizer": "adamw8bit", "lr": LR,
                  "lr_scheduler": "cosine", "dtype": "bf16"},
        "model": {"name_or_path": job.base, "arch": "qwen_image", "quantize": True,
                  "qtype": "uint3|ostris/accuracy_recovery_adapters/qwen_image_2512_torchao_uint3.safetensors",
                  "quantize_te": True, "qtype_te": "qfloat8", "low_vram": True},
        "sample": {"sampler": "flowmatch", "sample_every": job.save_every, "width": 1024, "height": 1024,
                   "prompts": job.prompts(), "neg": "", "seed": SEED, "walk_seed": True, "guidance_scale": 4,
                   "sample_steps": 25}}
    config = {"job": "extension", "config": {"name": job.name, "process": [process]},
              "meta": {"name": "[name]", "version": "1.0"}}
    path = f"{job.name}.ai-toolkit.yaml"
    text = (_header(job, "ostris/ai-toolkit config/examples/train_lora_qwen_image_24gb.yaml")
            + "# cache_text_embeddings (needed on 24 GB) ignores trigger_word, so the trigger is already in every\n"
            + "# caption (checked at export). Run from your ai-toolkit checkout: python run.py THIS_FILE\n"
            + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return {path: text}, f"cd ai-toolkit && python run.py {shlex.quote(str(job.out / path))}"


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string (same escapes)


def _need(job: Job, key: str) -> str:
    folder, name = MUSUBI_FILES[key]
    return (f"need {shlex.quote(str(job.models[key]))} "
            f"{shlex.quote(f'download {COMFY_REPO}/{folder}/{name} into ComfyUI/models/{folder}/')}")


def _musubi(job: Job) -> tuple[dict[str, str], str]:
    """Dataset TOML + a script that caches latents and text-encoder outputs, then trains."""
    toml_name, sh_name = f"{job.name}.musubi.toml", f"{job.name}.musubi.sh"
    cache = job.out / f"{job.train_dir.name}.musubi-cache"
    # Keys: kohya-ss/musubi-tuner docs/dataset_config.md and the ConfigSanitizer schema in
    # src/musubi_tuner/dataset/config_utils.py (general: resolution, caption_extension, batch_size, enable_bucket,
    # bucket_no_upscale; datasets: image_directory, cache_directory, num_repeats).
    toml = (_header(job, "kohya-ss/musubi-tuner docs/dataset_config.md")
            + "[general]\nresolution = [1024, 1024]\ncaption_extension = \".txt\"\nbatch_size = 1\n"
            + "enable_bucket = true\nbucket_no_upscale = false\n\n[[datasets]]\n"
            + f"image_directory = {_toml_str(str(job.train_dir))}\ncache_directory = {_toml_str(str(cache))}\n"
            + "num_repeats = 1\n")
    q = lambda p: shlex.quote(str(p))  # noqa: E731
    cfg, m = q(job.out / toml_name), {k: q(v) for k, v in job.models.items()}
    # Arguments: kohya-ss/musubi-tuner docs/qwen_image.md (pre-caching, LoRA training, the VRAM table: fp8_base +
    # fp8_scaled + blocks_to_swap 16 is ~24 GB, so 20 leaves room for the desktop) and training/parser_common.py.
    sh = ("#!/usr/bin/env bash\n" + _header(job, "kohya-ss/musubi-tuner docs/qwen_image.md")
          + ("# EDIT-ME: ComfyUI's models folder was not found at export; replace /EDIT-ME/ComfyUI/models below with "
             "yours\n# (or export again with --models-dir).\n" if str(job.models["vae"]).startswith(str(PLACEHOLDER))
             else "")
          + "set -euo pipefail\n"
          + "need() { [ -f \"$1\" ] || { echo \"missing model file: $1 - $2\" >&2; exit 1; }; }\n"
          + "\n".join(_need(job, k) for k in MUSUBI_FILES) + "\n"
          + "cd \"${MUSUBI_TUNER_DIR:?set MUSUBI_TUNER_DIR to your kohya-ss/musubi-tuner checkout}\"\n"
          + f"python src/musubi_tuner/qwen_image_cache_latents.py --dataset_config {cfg} --vae {m['vae']} "
            "--model_version original\n"
          + f"python src/musubi_tuner/qwen_image_cache_text_encoder_outputs.py --dataset_config {cfg} "
            f"--text_encoder {m['text_encoder']} --batch_size 1 --model_version original\n"
          + "accelerate launch --num_cpu_threads_per_process 1 --mixed_precision bf16 "
            "src/musubi_tuner/qwen_image_train_network.py \\\n"
          + f"  --dit {m['dit']} --vae {m['vae']} --text_encoder {m['text_encoder']} \\\n"
          + f"  --model_version original --dataset_config {cfg} \\\n"
          + "  --sdpa --mixed_precision bf16 --fp8_base --fp8_scaled --blocks_to_swap 20 --gradient_checkpointing \\\n"
          + "  --timestep_sampling shift --weighting_scheme none --discrete_flow_shift 2.2 \\\n"
          + f"  --optimizer_type adamw8bit --learning_rate {LR:g} --lr_scheduler cosine "
            f"--lr_warmup_steps {job.warmup} \\\n"
          + "  --max_data_loader_n_workers 2 --persistent_data_loader_workers \\\n"
          + f"  --network_module networks.lora_qwen_image --network_dim {job.rank} --network_alpha {job.rank} \\\n"
          + f"  --max_train_steps {job.steps} --save_every_n_steps {job.save_every} --seed {SEED} \\\n"
          + f"  --output_dir {q(job.output('musubi'))} --output_name {q(job.name)}\n")
    return {toml_name: toml, sh_name: sh}, f"MUSUBI_TUNER_DIR=/path/to/musubi-tuner bash {q(job.out / sh_name)}"


def _diffusers(job: Job) -> tuple[dict[str, str], str]:
    """The DreamBooth-LoRA command of diffusers/examples/dreambooth, with a 4-bit base so it fits 24 GB."""
    sh_name, bnb_name = f"{job.name}.diffusers.sh", f"{job.name}.diffusers-nf4.json"
    q = lambda p: shlex.quote(str(p))  # noqa: E731
    # Arguments: parse_args() of huggingface/diffusers examples/dreambooth/train_dreambooth_lora_qwen_image.py; the
    # quantization JSON and the memory flags (--cache_latents, --offload, --use_8bit_adam): README_qwen.md there.
    # Captions come through --dataset_name (an imagefolder: metadata.jsonl with file_name/text) and
    # --caption_column; --instance_data_dir would give every image the one --instance_prompt.
    sh = ("#!/usr/bin/env bash\n" + _header(job, "huggingface/diffusers examples/dreambooth/README_qwen.md")
          + "set -euo pipefail\n"
          + "cd \"${DIFFUSERS_DIR:?set DIFFUSERS_DIR to your huggingface/diffusers checkout}/examples/dreambooth\"\n"
          + "accelerate launch train_dreambooth_lora_qwen_image.py \\\n"
          + f"  --pretrained_model_name_or_path {q(job.base)} \\\n"
          + f"  --bnb_quantization_config_path {q(job.out / bnb_name)} \\\n"
          + f"  --dataset_name {q(job.train_dir)} --image_column image --caption_column text \\\n"
          + f"  --instance_prompt {q(job.trigger)} --resolution 1024 --train_batch_size 1 "
            "--gradient_accumulation_steps 1 \\\n"
          + f"  --gradient_checkpointing --use_8bit_adam --learning_rate {LR:g} --lr_scheduler cosine "
            f"--lr_warmup_steps {job.warmup} \\\n"
          + f"  --max_train_steps {job.steps} --checkpointing_steps {job.save_every} --checkpoints_total_limit 2 \\\n"
          + f"  --rank {job.rank} --lora_alpha {job.rank} --cache_latents --offload --mixed_precision bf16 "
            f"--seed {SEED} \\\n"
          + f"  --output_dir {q(job.output('diffusers'))}\n")
    bnb = json.dumps({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, indent=2) + "\n"
    return {sh_name: sh, bnb_name: bnb}, f"DIFFUSERS_DIR=/path/to/diffusers bash {q(job.out / sh_name)}"


WRITERS = {"ai-toolkit": _ai_toolkit, "musubi": _musubi, "diffusers": _diffusers}


# ---------------------------------------------------------------------------------------------- writing
def _owners(out: Path) -> dict[str, str]:
    try:
        data = json.loads((out / OWNERS).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.get("owners", {}).items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError):
        raise LikenessError(f"{out / OWNERS} cannot be read; delete it (and the exported files it lists) or export "
                            "with another --out.") from None


def _claim(out: Path, names: list[str], dataset: Path) -> dict[str, str]:
    """Refuse (before anything is written) to replace a file this tool did not write for this dataset."""
    owners = _owners(out)
    foreign = [n for n in names if (out / n).exists() and owners.get(n) != str(dataset)]
    if foreign:
        whose = {owners.get(n) for n in foreign} - {None}
        raise LikenessError(
            f"{listing([str(out / n) for n in foreign])} already exist(s) and "
            + (f"belong(s) to the export of {', '.join(sorted(whose))}. " if whose else "were not written by an "
               "export of this dataset. ")
            + "Fix: pass --name to choose other file names, or --out to write elsewhere (or delete those files).")
    owners.update({n: str(dataset) for n in names})
    return owners


def _link(src: Path, dst: Path) -> None:
    """dst becomes src's content: a hard link (no extra space), a copy where links cannot be made."""
    if dst.exists() and os.path.samefile(src, dst):
        return
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _fill_train_dir(train_dir: Path, items: list[Item]) -> None:
    keep = {"metadata.jsonl"}
    for it in items:
        _link(it.image, train_dir / it.image.name)
        atomic_write(train_dir / f"{it.image.stem}.txt", it.caption + "\n")
        keep |= {it.image.name, f"{it.image.stem}.txt"}
    lines = [json.dumps({"file_name": it.image.name, "text": it.caption}, ensure_ascii=False) for it in items]
    atomic_write(train_dir / "metadata.jsonl", "\n".join(lines) + "\n")
    for p in train_dir.iterdir():  # images dropped since the last export (trainer caches are left alone)
        if p.is_file() and p.name not in keep and p.suffix.lower() in (*IMAGE_SUFFIXES, ".txt"):
            p.unlink()


def default_steps(n_images: int) -> int:
    """About 100 steps an image, 1000 to 3000: the usual range for a 10-30 image character LoRA."""
    return min(3000, max(1000, 100 * n_images))


def export(directory: str | Path, trainers: list[str] | str, out: str | Path | None = None,
           models_dir: str | Path | list[str | Path] | None = None, trigger: str | None = None,
           only_passed: bool = False, rank: int = 32, steps: int | None = None, name: str | None = None
           ) -> ExportResult:
    """Check the dataset, write the training folder and each trainer's files; returns what was written.
    models_dir: ComfyUI's models folder (or several, searched in order); None = detect it."""
    trainers = list(TRAINERS) if trainers in ("all", ["all"]) else [trainers] if isinstance(trainers, str) else trainers
    for t in trainers:
        if t not in WRITERS:
            raise LikenessError(f"Unknown trainer {t!r}; choose one of: {', '.join(TRAINERS)} (or all).")
    if not isinstance(rank, int) or not 1 <= rank <= 256:
        raise LikenessError(f"--rank {rank!r} is out of range; use 1-256 (32 suits a character LoRA).")
    if steps is not None and (not isinstance(steps, int) or not 50 <= steps <= 100_000):
        raise LikenessError(f"--steps {steps!r} is out of range; use 50-100000 (or leave it out: ~100 per image).")
    dataset, items, trigger, dropped = read_dataset(directory, trigger, only_passed)
    clean = re.sub(r"[^\w\-]+", "_", name if name is not None else dataset.name).strip("._")
    if not clean:
        raise LikenessError(f"--name {name!r} has no usable characters; use letters, digits, - or _.")
    out_dir = Path(out).expanduser().resolve() if out else dataset
    if out_dir.exists() and not out_dir.is_dir():
        raise LikenessError(f"--out {out_dir} is a file; give a folder for the configs.")
    warnings = []
    roots = [Path(m).expanduser().resolve() for m in
             ([models_dir] if isinstance(models_dir, (str, Path)) else models_dir or [])]
    for r in roots[:1]:
        if not r.is_dir():
            raise LikenessError(f"--models-dir {r} does not exist. Give ComfyUI's models folder (the one holding "
                                "diffusion_models/, text_encoders/ and vae/).")
    roots = roots or [m for m in [detect_models_dir(dataset)] if m]
    root = roots[0] if roots else PLACEHOLDER
    if not roots:
        roots = [PLACEHOLDER]
        warnings.append(f"ComfyUI's models folder was not found: the musubi script points at {PLACEHOLDER}; edit "
                        "those paths or export again with --models-dir.")
    local = _find(roots, "diffusers", "Qwen-Image-2512")
    job = Job(dataset, out_dir, clean, trigger, items,
              out_dir / (f"{clean}.train-passed" if only_passed else f"{clean}.train"), rank,
              steps or default_steps(len(items)),
              {k: _find(roots, *MUSUBI_FILES[k]) for k in MUSUBI_FILES},
              str(local) if (local / "model_index.json").is_file() else BASE_REPO)
    rendered = {t: WRITERS[t](job) for t in trainers}
    files = {n: text for t in trainers for n, text in rendered[t][0].items()}
    claims = [*files, job.train_dir.name, f"{clean}.lora"] + ([f"{job.train_dir.name}.musubi-cache"]
                                                               if "musubi" in trainers else [])
    owners = _claim(out_dir, claims, dataset)
    _fill_train_dir(job.train_dir, items)
    for n, text in files.items():
        with atomic_path(out_dir / n) as tmp:
            tmp.write_text(text, encoding="utf-8")
            if n.endswith(".sh"):
                tmp.chmod(0o755)
    atomic_write(out_dir / OWNERS, json.dumps({"owners": owners}, indent=1, sort_keys=True) + "\n")
    if "musubi" in trainers:
        missing = [str(p) for p in job.models.values() if not p.is_file()]
        if missing and root != PLACEHOLDER:
            warnings.append(f"musubi-tuner needs bf16 single files that are not in {root} yet: {', '.join(missing)} "
                            f"(from {COMFY_REPO}; the fp8 files ComfyUI runs on cannot be trained on). The script "
                            "stops with this list until they are there.")
    if job.base == BASE_REPO and {"ai-toolkit", "diffusers"} & set(trainers):
        warnings.append(f"ai-toolkit and diffusers load the diffusers-format {BASE_REPO} (downloaded on the first "
                        "run, ~58 GB); put a local copy in "
                        f"{'ComfyUI/models/diffusers/Qwen-Image-2512' if root == PLACEHOLDER else local} to use it "
                        "instead.")
    if len(items) < 10:
        warnings.append(f"Only {len(items)} image(s): 10-30 varied images make a sturdier character LoRA.")
    return ExportResult(dataset, clean, trigger, job.train_dir, len(items), dropped,
                        {t: [out_dir / n for n in rendered[t][0]] for t in trainers},
                        {t: rendered[t][1] for t in trainers}, warnings)
