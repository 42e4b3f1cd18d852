"""Command line: `python -m likeness run ...` (headless runner), `sweep` (settings x identity matrix), `score`
(identity of any images, no ComfyUI), `dataset export` (a LoRA trainer config for a dataset folder) and
`workflows` (regenerate the shipped workflow files)."""
import sys

COMMANDS = {"run": "run a workflow headlessly",
            "score": "score images against reference photos of a person (no ComfyUI needed)",
            "sweep": "run a workflow over every combination of settings and see which keep the face",
            "dataset": "export a dataset folder as a LoRA trainer config (ai-toolkit, musubi, diffusers)",
            "workflows": "regenerate or check the shipped workflow files"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m likeness {run,score,sweep,dataset,workflows} ...\n" +
              "\n".join(f"  {k:10} {v}" for k, v in COMMANDS.items()), file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    if argv[0] == "run":
        from .runner.cli import main as run_main

        return run_main(argv[1:])
    if argv[0] == "sweep":
        from .runner.sweep import main as sweep_main

        return sweep_main(argv[1:])
    if argv[0] == "score":
        from .identity.score_cli import main as score_main

        return score_main(argv[1:])
    if argv[0] == "dataset":
        from .dataset.export_cli import main as dataset_main

        return dataset_main(argv[1:])
    from .workflows.build import main as build_main

    return build_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
