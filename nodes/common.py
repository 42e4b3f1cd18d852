"""Small helpers every node shares: device choice, progress + interrupt callbacks, model file lists."""
from __future__ import annotations

import logging

import comfy.model_management as mm
import comfy.utils
from comfy_api.latest import io

from ..likeness.models import paths

log = logging.getLogger("likeness")
DEVICES = ["auto", "gpu", "cpu"]


def device(choice: str = "auto") -> str:
    """'auto' and 'gpu' follow ComfyUI's device (so --cpu is respected); 'cpu' forces the CPU."""
    return "cpu" if choice == "cpu" else str(mm.get_torch_device())


def device_input(tooltip_subject: str = "these models") -> io.Combo.Input:
    return io.Combo.Input("device", options=DEVICES, default="auto",
                          tooltip=f"Where {tooltip_subject} run. auto = ComfyUI's device (the GPU when there is one, "
                                  "even without onnxruntime-gpu).")


def check_interrupt() -> None:
    """Stop here when the user pressed Cancel (raises ComfyUI's interrupt)."""
    mm.throw_exception_if_processing_interrupted()


def progress(total: int):
    """A callback on_item(done, total) that moves ComfyUI's progress bar and honours Cancel."""
    bar = comfy.utils.ProgressBar(max(1, total))

    def on_item(done: int, n: int | None = None) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar.update_absolute(done, n or total)

    return on_item


def files(*folders: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    names = []
    for folder in folders:
        names += [n for n in paths.list_names(folder) if not suffixes or n.lower().endswith(suffixes)]
    return sorted(set(names))


def check_model(name: str, folders: tuple[str, ...], suffixes: tuple[str, ...], workflow: str = "faceswap",
                kind: str = "file") -> bool | str:
    """A loader's validate_inputs: True, or what is missing, every folder searched and the install command, when
    the prompt is queued and before anything runs. ComfyUI then skips its own list check for that input, so this
    one is as strict: a plain name inside the folders, with the right extension."""
    from ..likeness.errors import LikenessError

    if suffixes and not name.lower().endswith(suffixes):
        return f"'{name}' is not a {' / '.join(suffixes)} file."
    try:
        if kind == "pack":
            paths.resolve(folders[0], name, workflow, kind="pack")
        else:
            resolve_file(name, folders, workflow)
    except LikenessError as e:
        return str(e)
    return True


def resolve_file(name: str, folders: tuple[str, ...], workflow: str = "faceswap"):
    """The full path of `name` in the first of `folders` that has it (names never leave their folder); when none
    has it, the error names every folder searched and the one the file belongs in (the first)."""
    from ..likeness.errors import ModelMissingError

    searched = []
    for folder in folders:
        try:
            return paths.resolve(folder, name, workflow)
        except ModelMissingError as e:
            searched += e.searched
    raise ModelMissingError(folders[0], name, searched, workflow)
