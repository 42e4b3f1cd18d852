"""`python -m likeness score`: score any images against a person — made by any tool, no ComfyUI needed.

    python -m likeness score OUTPUTS/ --reference me.jpg [--reference me2.jpg] [--keep KEPT/] [--out REPORT/]

Writes the identity report (identity.json, identity.csv, pass rate) and a contact sheet (identity_sheet.png) into
--out, and with --keep copies the images that kept the identity: the "filter by identity" step of a LoRA dataset.
The dlib backend is the default: real weights that ship with the pip packages, so it works on a fresh machine.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from ..errors import LikenessError
from ..face.draw import contact_sheet
from ..fileio import atomic_path, atomic_write
from ..image import png_bytes
from . import calibration, embed, score
from . import report as reports

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
SHEET = "identity_sheet.png"


def image_files(inputs: list[str]) -> list[Path]:
    """The images named, and those inside named folders (recursively, sorted); a missing path is an error."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif item.is_file():
            files.append(item)
        else:
            raise LikenessError(f"{item}: no such file or folder. Give images or folders of images to score.")
    if not files:
        raise LikenessError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(inputs)}.")
    return list(dict.fromkeys(p.resolve() for p in files))


def read_rgb(path: Path) -> np.ndarray | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            return np.array(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def backend_for(name: str, models: str | None, device: str = "cpu"):
    if name == "dlib":
        return embed.load(embed.BackendSpec("dlib", device=device))
    root = Path(models) if models else None
    pack = root / "insightface" / "models" / name if root else None
    if pack is None or not pack.is_dir():
        raise LikenessError(f"The {name} backend needs its pack: pass --models with your ComfyUI models folder (it "
                            f"holds insightface/models/{name}/), or use --backend dlib (no download).")
    return embed.load(embed.BackendSpec(name, str(pack), device))


def keep_copy(src: Path, keep_dir: Path) -> Path:
    """Copy into keep_dir atomically; never overwrite a different file of the same name (add _1, _2, ...)."""
    target, n = keep_dir / src.name, 0
    while target.exists() and target.read_bytes() != src.read_bytes():
        n += 1
        target = keep_dir / f"{src.stem}_{n}{src.suffix}"
    with atomic_path(target) as tmp:
        shutil.copyfile(src, tmp)
    return target


def run(inputs: list[str], references: list[str], out: str | None, keep: str | None, backend_name: str = "dlib",
        models: str | None = None, threshold: float | None = None, reference_face: str = "single",
        echo=print) -> dict:
    """Score every image, write the report and contact sheet, copy the passing ones; returns the report."""
    files = image_files(inputs)
    refs = []
    for r in map(Path, references):
        rgb = read_rgb(r)
        if rgb is None:
            raise LikenessError(f"--reference {r}: not a readable image. Give a photo of the person (JPEG/PNG).")
        refs.append(rgb)
    if not refs:
        raise LikenessError("Give at least one --reference photo of the person.")
    backend = backend_for(backend_name, models)
    ref, n_ref = score.reference_embedding(backend, refs, reference_face)
    limit = calibration.threshold_for(backend.name, threshold)
    echo(f"reference: {n_ref} photo(s) · backend {backend.name} ({backend.metric}) · threshold {limit.value} "
         f"({limit.source})")
    scores, sheet = [], []
    for i, path in enumerate(files):
        rgb = read_rgb(path)
        if rgb is None:
            s = score.Score(i, 0.0, "unreadable", limit.value, limit.source, backend.name)
        else:
            s = score.score_faces(backend, backend.faces(rgb, i), ref, limit, i)
            sheet.append((rgb, f"{path.name} {s.similarity:.2f}", s.passed))
        scores.append(s)
        echo(f"[{i + 1}/{len(files)}] {s.verdict:10} {s.similarity:6.3f}  {path}")
    report = reports.summary(scores)
    out_dir = Path(out) if out else Path.cwd() / "likeness-score"
    json_path, csv_path = reports.write(report, out_dir, "identity", [str(p) for p in files])
    if sheet:
        atomic_write(out_dir / SHEET, png_bytes(contact_sheet(*map(list, zip(*sheet)))))
    kept = []
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        kept = [str(keep_copy(p, Path(keep))) for p, s in zip(files, scores) if s.passed]
    echo(f"{report['passed']}/{report['images']} kept the identity ({100 * report['pass_rate']:.0f}%) — report: "
         f"{json_path}, {csv_path}" + (f", sheet: {out_dir / SHEET}" if sheet else "")
         + (f"; {len(kept)} copied to {keep}" if keep else ""))
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m likeness score", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", help="image files and/or folders of images (searched recursively)")
    p.add_argument("--reference", action="append", default=[], required=True,
                   help="a photo of the person; repeat for several (they are combined)")
    p.add_argument("--out", help="where the report and contact sheet go (default ./likeness-score)")
    p.add_argument("--keep", help="copy the images that kept the identity here")
    p.add_argument("--backend", default="dlib", choices=["dlib", "buffalo_l", "antelopev2"],
                   help="identity model (default dlib: no download)")
    p.add_argument("--models", help="your ComfyUI models folder (for the buffalo_l/antelopev2 backends)")
    p.add_argument("--threshold", type=float, help="override the calibrated pass threshold")
    p.add_argument("--reference-face", default="single",
                   help="which face of a reference photo: single (error if several), largest, or an index from "
                        "the left")
    args = p.parse_args(argv)
    try:
        report = run(args.images, args.reference, args.out, args.keep, args.backend, args.models, args.threshold,
                     args.reference_face)
    except LikenessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if report["images"] else 1
