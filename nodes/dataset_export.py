"""Export Dataset for Trainer: a ready-to-run Qwen-Image-2512 character-LoRA config for a Dataset Writer folder."""
from __future__ import annotations

from pathlib import Path

from comfy_api.latest import io

from ..likeness.dataset import export
from .dataset import ROOT, dataset_folder


class LikenessExportDataset(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LikenessExportDataset", display_name="Export Dataset for Trainer", category="Likeness/Dataset",
            description="Checks a dataset folder (every image opens and has a caption holding the trigger word) and "
                        "writes into it a ready-to-run 24 GB config for training a Qwen-Image-2512 character LoRA "
                        "with ai-toolkit, musubi-tuner or diffusers, plus the training folder they read.",
            inputs=[io.String.Input("dataset", default="character",
                                    tooltip=f"The dataset: its name (output/{ROOT}/<name>) or a folder inside "
                                            "ComfyUI's output folder."),
                    io.Combo.Input("trainer", options=["all", *export.TRAINERS], default="all",
                                   tooltip="ai-toolkit (one YAML), musubi (dataset TOML + train script), diffusers "
                                           "(DreamBooth-LoRA script), or all three."),
                    io.String.Input("trigger", default="", tooltip="The trigger word every caption holds. Empty = "
                                                                   "read it from the captions."),
                    io.Boolean.Input("only_passed", default=False,
                                     tooltip="Train only on images whose identity verdict in metadata.jsonl is pass."),
                    io.Int.Input("rank", default=32, min=1, max=256, tooltip="LoRA rank (32 suits a character)."),
                    io.Int.Input("steps", default=0, min=0, max=100000,
                                 tooltip="Training steps; 0 = about 100 per image (1000-3000).")],
            outputs=[io.String.Output(display_name="configs")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, dataset, trainer, trigger, only_passed, rank, steps) -> io.NodeOutput:
        import folder_paths

        folder = dataset_folder(dataset)
        roots = [folder_paths.models_dir, *(str(Path(d).parent) for f, _ in export.MUSUBI_FILES.values()
                                            for d in folder_paths.get_folder_paths(f))]  # extra_model_paths too
        r = export.export(folder, trainer, models_dir=list(dict.fromkeys(roots)), trigger=trigger.strip() or None,
                          only_passed=only_passed, rank=rank, steps=steps or None)
        written = [str(p) for t in r.files for p in r.files[t]]
        summary = "\n".join([f"{r.images} image(s), trigger '{r.trigger}', training folder {r.train_dir}",
                             *(f"{t}: {r.run[t]}" for t in r.run), *(f"warning: {w}" for w in r.warnings)])
        return io.NodeOutput("\n".join(written), ui={"text": [summary]})
