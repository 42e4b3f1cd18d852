"""Custom socket types shared by the pack's nodes."""
from comfy_api.latest import io

FaceAnalyzer = io.Custom("LIKENESS_FACE_ANALYZER")  # detector + recogniser (+ gender/age) ready to analyse
FaceModel = io.Custom("LIKENESS_FACE_MODEL")        # one identity: embedding(s) built from one or more photos
FaceSwapper = io.Custom("LIKENESS_FACE_SWAPPER")    # a loaded swap model (inswapper, HyperSwap, ReSwapper)
FaceRestorer = io.Custom("LIKENESS_FACE_RESTORER")  # a loaded restoration model (GFPGAN, CodeFormer)
FaceParser = io.Custom("LIKENESS_FACE_PARSER")      # a face-parsing model (BiSeNet) for occlusion-aware masks
IdentityScorer = io.Custom("LIKENESS_IDENTITY_SCORER")  # an identity embedding backend + its calibration
LoraStack = io.Custom("LORA_STACK")                 # list of (lora file, strength) entries, chainable
