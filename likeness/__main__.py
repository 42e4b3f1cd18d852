"""Command line: `python -m likeness run ...` (headless runner) and `python -m likeness workflows` (regenerate)."""
import sys

COMMANDS = {"run": "run a workflow headlessly", "workflows": "regenerate or check the shipped workflow files"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m likeness {run,workflows} ...\n" +
              "\n".join(f"  {k:10} {v}" for k, v in COMMANDS.items()), file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    if argv[0] == "run":
        from .runner.cli import main as run_main

        return run_main(argv[1:])
    from .workflows.build import main as build_main

    return build_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
