"""Identity Grid: a batch and its identity report as one labelled contact sheet (red border = lost the person).

The thumbnails are drawn by likeness.face.draw.tile, as in the sweep's pair sheets (likeness/identity/sheet.py)."""
from __future__ import annotations

from comfy_api.latest import io

from ..likeness.face.draw import contact_sheet
from ..likeness.identity.report import parse
from ..likeness.image import images_to_rgb_list, rgb_list_to_images


class LikenessIdentityGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessIdentityGrid", display_name="Identity Grid", category="Likeness/Identity",
            description="Lays the scored images out as a contact sheet, each labelled with its score and verdict; "
                        "a red border marks an image that lost the person, a thin green one an image that kept it. "
                        "The same thumbnails as the sheets `python -m likeness score` and `sweep` write.",
            inputs=[io.Image.Input("images", tooltip="The batch the report scores (same order)."),
                    io.String.Input("report", force_input=True, tooltip="From Identity Score or Identity Gate."),
                    io.Int.Input("thumbnail", default=256, min=64, max=1024, step=32,
                                 tooltip="Size of each thumbnail's long side, in pixels."),
                    io.Int.Input("columns", default=0, min=0, max=64,
                                 tooltip="Thumbnails per row; 0 = as square a grid as the count allows.")],
            outputs=[io.Image.Output(display_name="grid")],
        )

    @classmethod
    def execute(cls, images, report, thumbnail, columns) -> io.NodeOutput:
        frames = images_to_rgb_list(images, "images")
        scores = parse(report, len(frames))["scores"]
        labels = [f"#{s['image']} {s['similarity']:.2f} {s['verdict']}" for s in scores]
        sheet = contact_sheet(frames, labels, [s["verdict"] == "pass" for s in scores], thumbnail, columns or None)
        return io.NodeOutput(rgb_list_to_images([sheet]))
