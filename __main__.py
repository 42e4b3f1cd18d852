"""`python custom_nodes/ComfyUI-Likeness run ...` from the ComfyUI folder (or from anywhere): the same command line as
`python -m likeness ...` in the pack folder, without installing anything. Python runs this file when it is given
the pack folder itself; ComfyUI never imports it."""
import os
import sys

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path[0] != here:  # Python puts the folder it runs first on the path; make sure of it
        sys.path.insert(0, here)
    from likeness.__main__ import main

    sys.exit(main())
