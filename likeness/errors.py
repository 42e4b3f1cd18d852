"""Errors that tell the user what was wrong, with which input, and how to fix it."""


class LikenessError(Exception):
    """Base class: every message is meant to be shown to the user as is."""


class BadInputError(LikenessError, ValueError):
    """An input the node cannot use (shape, size, value)."""


class NoFaceError(LikenessError):
    def __init__(self, what: str, index: int | None = None, hint: str = ""):
        where = what if index is None else f"{what} (batch item {index})"
        self.what, self.index = what, index
        super().__init__(
            f"No face found in {where}. "
            + (hint or "Use a photo where the face is clearly visible, or lower det_thresh / raise det_size.")
        )


class ModelMissingError(LikenessError, FileNotFoundError):
    def __init__(self, folder: str, name: str, searched: list[str] | None = None, workflow: str | None = None,
                 reason: str = "not found"):
        self.folder, self.name, self.searched = folder, name, list(searched or [])
        where = ", ".join(searched or []) or "(no folder registered)"
        fix = f"python install.py --workflow {workflow}" if workflow else "python install.py"
        super().__init__(
            f"Model '{name}' ({folder}) {reason}. Searched: {where}. "
            f"Fix: run `{fix}` in the ComfyUI-Likeness folder, or put the file in ComfyUI/models/{folder}/."
        )


def pick(table: dict, name, what: str):
    """table[name], or an error that names the input and lists the choices (never a raw KeyError)."""
    try:
        return table[name]
    except (KeyError, TypeError):
        raise BadInputError(f"Unknown {what} {name!r}; choose one of: {', '.join(map(str, table))}.") from None
