"""`python -m likeness dataset export DIR --for ai-toolkit|musubi|diffusers|all`: a ready-to-run character-LoRA
job for Qwen-Image-2512 on a 24 GB GPU, from a Dataset Writer folder (no ComfyUI needed).

Checks the dataset (every image opens, has a caption holding the trigger word), puts the chosen images in a
training folder beside the configs, and writes each trainer's config/script with absolute paths.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import LikenessError
from .export import TRAINERS, export


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m likeness dataset", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("export", help="write a trainer config for a dataset folder",
                       description=__doc__.split("\n\n")[1])
    e.add_argument("dataset", metavar="DIR", help="the dataset folder (ComfyUI/output/Likeness/datasets/<dataset>)")
    e.add_argument("--for", dest="trainers", action="append", required=True, choices=[*TRAINERS, "all"],
                   help="the trainer (repeat for several, or all)")
    e.add_argument("--out", help="where the configs and the training folder go (default: the dataset folder)")
    e.add_argument("--models-dir", help="ComfyUI's models folder, for the single files musubi-tuner loads "
                                        "(default: found from the dataset's or this pack's ComfyUI)")
    e.add_argument("--trigger", help="the trigger word every caption holds (default: read from the captions)")
    e.add_argument("--only-passed", action="store_true",
                   help="train only on images whose identity verdict in metadata.jsonl is 'pass'")
    e.add_argument("--rank", type=int, default=32, help="LoRA rank (default 32)")
    e.add_argument("--steps", type=int, help="training steps (default ~100 per image, 1000-3000)")
    e.add_argument("--name", help="the LoRA and file name (default: the dataset folder's name)")
    args = p.parse_args(argv)
    trainers = list(TRAINERS) if "all" in args.trainers else list(dict.fromkeys(args.trainers))
    try:
        r = export(args.dataset, trainers, args.out, args.models_dir, args.trigger, args.only_passed, args.rank,
                   args.steps, args.name)
    except LikenessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"dataset: {r.dataset} — {r.images} image(s), trigger '{r.trigger}'"
          + (f"; {len(r.dropped)} left out (identity verdict not 'pass')" if r.dropped else ""))
    print(f"training folder: {r.train_dir}")
    for t in trainers:
        print(f"{t}: " + ", ".join(map(str, r.files[t])))
        print(f"  run: {r.run[t]}")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0
