"""LikenessInfo: shows the pack version and where its models would run."""
from comfy_api.latest import io

from ..likeness import __version__


class LikenessInfo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessInfo",
            display_name="Likeness Info",
            category="Likeness",
            description="Reports the ComfyUI-Likeness version and the device its face models run on.",
            inputs=[],
            outputs=[io.String.Output(display_name="info", tooltip="Version and runtime summary, one item per line.")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        import comfy.model_management as mm

        text = f"ComfyUI-Likeness {__version__}\ndevice: {mm.get_torch_device()}"
        return io.NodeOutput(text, ui={"text": [text]})
