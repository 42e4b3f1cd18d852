"""The workflows this pack ships, described once. Model files come from models.yaml, so they cannot drift."""
from __future__ import annotations

from functools import lru_cache

from ..dataset.training import TRAINING_CORE
from ..models.registry import ModelEntry, load_manifest
from .graph import Node, Workflow

NONE = "None"
EDIT_INSTRUCTION = ("The person from picture 1 sits at a table in a sunlit Paris café, holding a cup of coffee. "
                    "Keep the face, hairstyle and build exactly the same.")
T2I_PROMPT = ("Photo of a woman in a yellow raincoat on a harbour pier at dawn, waist-up portrait, looking at the "
              "camera, soft light, sharp focus, 50 mm lens")
T2I_NEGATIVE = ("low resolution, low quality, deformed hands, extra fingers, oversaturated, waxy skin, faceless, "
                "over-smoothed, messy composition, blurry text")
SCENE = "standing on a rocky beach at sunset, wind in the hair, wearing a grey wool coat"
INSTRUCTION_PREFIX = ("Keep the person from picture 1 exactly as they are (same face, hair and build) and show them ")

# Estimates from the FLOP model in the research notes (fp8 weights, bf16 compute); not yet measured on a 4090.
ESTIMATES = {
    "character-scene": "≈ 80 s per image at 40 steps × denoise 0.7 (≈ 6 s with the Lightning preset)",
    "faceswap": "≈ 60 s per image at 50 steps, cfg 4, 1024² (+ < 1 s for swap, restore and scoring)",
    "faceswap-fast": "≈ 4 s per image at 4 steps, cfg 1, 1024²",
    "dataset-enrichment": "≈ 80 s per scene prompt (≈ 6 s with the Lightning preset)",
    "train-character-lora": "not measured yet: whether ComfyUI's trainer fits 24 GB with the fp8 base, offloading "
                            "and gradient checkpointing is the open GPU benchmark (BENCHMARKS.md); if it does not, "
                            "export the dataset for ai-toolkit or musubi-tuner",
    "character-lora": "≈ 60 s per image at 50 steps, cfg 4, 1024² (+ < 1 s for scoring)",
}
TRIGGER = "ohwx person"  # the trigger word dataset-enrichment writes into every caption and character-lora prompts
CHARACTER_LORA = "likeness_character.safetensors"  # what train-character-lora saves for the "character" dataset
CHARACTER_PROMPT = (f"{TRIGGER}, sitting on a park bench in autumn, reading a book, waist-up portrait, soft "
                    "afternoon light, sharp focus, 50 mm lens")
# Core nodes a workflow needs that older ComfyUI lacks, as (version, why); older cores get a clear error.
MIN_COMFYUI = {"train-character-lora": (TRAINING_CORE, "Train LoRA with resolution buckets and offloading")}


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@lru_cache(maxsize=1)
def _manifest() -> dict[str, ModelEntry]:
    return {e.key: e for e in load_manifest()}


def model_file(key: str) -> str:
    return _manifest()[key].file


# What the frontend's missing-model dialog will download; anything else it lists with an error instead.
FRONTEND_DOWNLOAD_SUFFIXES = (".safetensors", ".sft")
FRONTEND_DOWNLOAD_HOSTS = ("https://huggingface.co/", "https://civitai.com/")


def model_links() -> dict[str, dict]:
    """File name -> where the frontend can download it from (for its missing-model dialog). Other files (.onnx,
    .pth, packs) are left to `python install.py --workflow NAME`, which the workflow note names."""
    return {e.file: {"url": e.urls[0], "directory": e.folder} for e in _manifest().values()
            if not e.archive and e.file.endswith(FRONTEND_DOWNLOAD_SUFFIXES)
            and e.urls[0].startswith(FRONTEND_DOWNLOAD_HOSTS)}


def lora_preset(key: str) -> str:
    return key.replace("_", " ")  # the name LoRA Stack lists it under (likeness.qwen.lora.presets)


def readme(name: str, what: str, settings: list[str]) -> str:
    entries = list(_manifest().values())
    need = [e for e in entries if name in e.required_by]
    optional = [e for e in entries if name in e.optional_for]
    where = lambda e: f"`models/{e.folder}/{e.file}/` (a folder)" if e.archive else f"`models/{e.folder}/`"  # noqa: E731
    line = lambda e: f"- `{e.file.rsplit('/', 1)[-1]}` → {where(e)} ({e.size}; {e.licence})"  # noqa: E731
    parts = [f"## {name}", what, "", "**Models** (`python install.py --workflow " + name + "` fetches them):",
             *map(line, need)]
    if optional:
        parts += ["", "Optional:", *map(line, optional)]
    parts += ["", "**Settings**", *[f"- {s}" for s in settings],
              "", f"**On a 24 GB RTX 4090:** {ESTIMATES[name]}; the fp8 model is partly offloaded by ComfyUI "
                  "(estimate, see BENCHMARKS.md).",
              "", "Headless: `python -m likeness run " + name + " --image Reference=photo.jpg --out results/`"]
    return "\n".join(parts)


# -- shared pieces ---------------------------------------------------------------------------------------------
def qwen_loaders(wf: Workflow, unet_key: str) -> tuple[Node, Node, Node]:
    g = "Models"
    unet = wf.add("UNETLoader", "Load Diffusion Model", group=g, unet_name=model_file(unet_key),
                  weight_dtype="default")
    clip = wf.add("CLIPLoader", "Load Text Encoder", group=g, clip_name=model_file("qwen_2.5_vl_7b_fp8_scaled"),
                  type="qwen_image", device="default")
    vae = wf.add("VAELoader", "Load VAE", group=g, vae_name=model_file("qwen_image_vae"))
    return unet, clip, vae


def qwen_models(wf: Workflow, unet_key: str, lora: str, sampling: str, lora_1: str = NONE
                ) -> tuple[Node, Node, Node]:
    """Loaders -> LoRA stack -> sampling preset; returns (preset, clip, vae). preset: model, steps, cfg."""
    g = "Models"
    unet, clip, vae = qwen_loaders(wf, unet_key)
    slots = {}
    for i in range(1, 5):
        slots.update({f"lora_{i}": lora_1 if i == 1 else NONE, f"strength_{i}": 1.0, f"on_{i}": True})
    stack = wf.add("LikenessLoraStack", "LoRA Stack", group=g, preset=lora, **slots)
    model = wf.add("LikenessApplyLoraStack", "Apply LoRA Stack", group=g, model=unet[0], stack=stack[0])
    preset = wf.add("LikenessQwenSamplingPreset", "Sampling Preset", group=g, model=model[0], preset=sampling)
    return preset, clip, vae


def reference(wf: Workflow, group: str = "Reference") -> Node:
    return wf.add("LoadImage", "Reference", group=group, image="example.png")


def identity_score(wf: Workflow, images, ref: Node, originals=None) -> Node:
    g = "Identity"
    scorer = wf.add("LikenessIdentityScorer", "Identity Scorer", group=g, backend="auto", threshold=-1.0,
                    device="auto")
    extra = {"originals": originals} if originals is not None else {}
    score = wf.add("LikenessIdentityScore", "Identity Score", group=g, images=images, scorer=scorer[0],
                   reference=ref[0], reference_face="largest", count="most-similar", **extra)
    wf.add("PreviewImage", "Score Preview", group=g, images=score[0])
    return score


def character_scene_node(wf: Workflow, preset: Node, clip: Node, vae: Node, character: Node, instruction,
                         seed, controls: dict | None = None) -> Node:
    return wf.add("LikenessCharacterScene", "Character Scene", group="Scene", controls=controls,
                  model=preset[0], clip=clip[0], vae=vae[0], character=character[0], instruction=instruction,
                  negative="", denoise=0.7, seed=seed, steps=preset[1], cfg=preset[2], sampler_name="euler",
                  scheduler="simple", version="auto", vae_megapixels=1.0, align="32")


def text_to_image(wf: Workflow, preset: Node, clip: Node, vae: Node, prompt: str) -> Node:
    g = "Generate"
    pos = wf.add("CLIPTextEncode", "Prompt", group=g, text=prompt, clip=clip[0])
    neg = wf.add("CLIPTextEncode", "Negative Prompt", group=g, text=T2I_NEGATIVE, clip=clip[0])
    size = wf.add("EmptySD3LatentImage", "Image Size", group=g, width=1024, height=1024, batch_size=1)
    sample = wf.add("KSampler", "Sampler", group=g, model=preset[0], seed=0, steps=preset[1], cfg=preset[2],
                    sampler_name="euler", scheduler="simple", positive=pos[0], negative=neg[0],
                    latent_image=size[0], denoise=1.0)
    return wf.add("VAEDecode", "Decode", group=g, samples=sample[0], vae=vae[0])


def face_swap_chain(wf: Workflow, image: Node, ref: Node, group: str = "Face Swap", bypassed: bool = False) -> Node:
    """Swap the reference face into `image` (inswapper, pixel boost 2), then GFPGAN on the swapped face only.
    Bypassed, every node passes its image through (the chain is then an option, one Ctrl+B away)."""
    g = group
    analyzer = wf.add("LikenessFaceAnalyzerLoader", "Face Analyzer", group=g, bypassed=bypassed, pack="buffalo_l",
                      detector="auto", det_size=640, det_thresh=0.5, device="auto")
    swapper = wf.add("LikenessFaceSwapperLoader", "Face Swapper", group=g, bypassed=bypassed,
                     swapper=model_file("inswapper_128"), device="auto")
    parser = wf.add("LikenessFaceParserLoader", "Face Parser (optional)", group=g, bypassed=True,
                    parser=model_file("bisenet_face_parsing"), device="auto")
    swap = wf.add("LikenessFaceSwap", "Face Swap", group=g, bypassed=bypassed, image=image[0], analyzer=analyzer[0],
                  swapper=swapper[0], source_image=ref[0], source_index="0", target_index="0", order="large-small",
                  gender="any", reference_threshold=0.4, mapping="", pixel_boost="2", weight=1.0, feather=0.08,
                  erode=0.08, color_match=1.0, keep_detail=1.0, on_no_face="skip", parser=parser[0])
    restorer = wf.add("LikenessFaceRestorerLoader", "Face Restorer", group=g, bypassed=bypassed,
                      restorer=model_file("gfpgan_1.4"), device="auto")
    return wf.add("LikenessFaceRestore", "Restore Swapped Faces", group=g, bypassed=bypassed, image=swap[0],
                  analyzer=analyzer[0], restorer=restorer[0], visibility=0.8, only_in_mask=swap[1])


# -- the workflows ---------------------------------------------------------------------------------------------
def character_scene() -> Workflow:
    wf = Workflow("character-scene")
    wf.note(readme("character-scene",
                   "A reference photo and a scene instruction → Qwen-Image-Edit-2511 starting from the photo "
                   "(denoise 0.7: new scene, same person) → identity score → saved image + JSON/CSV report "
                   "(same number).",
                   ["Denoise 0.7 keeps the person; 1.0 is a fresh edit, lower keeps more of the photo.",
                    "Sampling Preset: 2511 base = 40 steps, cfg 4, shift 3.1, CFGNorm 1. For speed pick the "
                    "`lightning edit 2511 4step` preset in LoRA Stack and `Lightning 4-step (cfg 1)` here.",
                    "Character Scene takes two more references (image2, image3: another view, an outfit).",
                    "Version auto: ComfyUI 0.5.0+ recognises the 2511 file itself. On an older ComfyUI, update it, "
                    "or load the 2509 file (python install.py --workflow character-scene --optional) and choose "
                    "version 2509."]),
            group="Read me")
    preset, clip, vae = qwen_models(wf, "qwen_image_edit_2511", NONE, "2511 base (40 steps, cfg 4)")
    ref = reference(wf)
    scene = character_scene_node(wf, preset, clip, vae, ref, EDIT_INSTRUCTION, 0)
    score = identity_score(wf, scene[0], ref)
    wf.add("LikenessIdentityReport", "Save Image + Report", group="Save", report=score[1], images=scene[0],
           filename_prefix="Likeness/character-scene")
    return wf


def faceswap(fast: bool = False) -> Workflow:
    name = "faceswap-fast" if fast else "faceswap"
    wf = Workflow(name)
    steps = "4 steps, cfg 1 (Lightning 4-step LoRA, shift 3)" if fast else "50 steps, cfg 4, shift 3.1"
    wf.note(readme(name,
                   f"Qwen-Image-2512 text-to-image ({steps}) → the reference face swapped in (inswapper, pixel "
                   "boost 2) → GFPGAN on the swapped face only → identity score and gate → saved image + report.",
                   ["Write the prompt for the person's age, build and hair: the swap replaces the face only.",
                    "Face Swap skips images without a face (their score says 'no face').",
                    "Face Parser (bypassed): enable it (Ctrl+B) with a BiSeNet model to keep hair, glasses and "
                    "hands that cover the face.",
                    "Identity Gate keeps images that pass the calibrated threshold (or the best one if none).",
                    "inswapper_128 and buffalo_l are for non-commercial use only."]),
            group="Read me")
    preset, clip, vae = qwen_models(
        wf, "qwen_image_2512", lora_preset("lightning_2512_4step") if fast else NONE,
        "Lightning 4-step (cfg 1)" if fast else "Qwen-Image 2512 base (50 steps, cfg 4)")
    image = text_to_image(wf, preset, clip, vae, T2I_PROMPT)
    ref = reference(wf)
    restored = face_swap_chain(wf, image, ref)
    score = identity_score(wf, restored[0], ref, originals=image[0])
    gate = wf.add("LikenessIdentityGate", "Identity Gate", group="Identity", images=restored[0], report=score[1],
                  mode="pass", k=1, if_none_pass="keep best")
    wf.add("LikenessIdentityReport", "Save Image + Report", group="Save", report=gate[2], images=gate[0],
           filename_prefix=f"Likeness/{name}")
    return wf


def dataset_enrichment() -> Workflow:
    wf = Workflow("dataset-enrichment")
    wf.note(readme("dataset-enrichment",
                   "Reference photo × scene prompts → Character Scene → identity gate → a LoRA-training dataset in "
                   "`output/Likeness/datasets/character/`: images, caption .txt files, metadata.jsonl (source, "
                   "prompt, seed, scores) and square face crops in `faces/`.",
                   ["One run adds one scene. For many, run it headless with a prompt file: "
                    "`python -m likeness run dataset-enrichment --image Reference=me.jpg --batch "
                    "\"Scene.value=scenes.txt\"` (one scene per line; Seed counts up per item; several --server "
                    "URLs share the work).",
                    "Write scenes as captions (what the image shows); the instruction adds the keep-the-person "
                    f"text. Dataset Writer puts the trigger word `{TRIGGER}` before each caption (a character "
                    "LoRA trained on the set answers to it: train-character-lora).",
                    "Only images that pass the identity gate are written; the report lists every try.",
                    "Face crops: MediaPipe's face detector when a face_detection*.tflite is in models/mediapipe, "
                    "else the Face Analyzer."]),
            group="Read me")
    preset, clip, vae = qwen_models(wf, "qwen_image_edit_2511", NONE, "2511 base (40 steps, cfg 4)")
    g = "Inputs"
    ref = reference(wf, group=g)
    scene = wf.add("PrimitiveStringMultiline", "Scene", group=g, value=SCENE)
    seed = wf.add("PrimitiveInt", "Seed", group=g, value=0, controls={"value": "fixed"})
    instruction = wf.add("StringConcatenate", "Instruction", group=g, string_a=INSTRUCTION_PREFIX,
                         string_b=scene[0], delimiter="")
    made = character_scene_node(wf, preset, clip, vae, ref, instruction[0], seed[0])
    score = identity_score(wf, made[0], ref)
    gate = wf.add("LikenessIdentityGate", "Identity Gate", group="Identity", images=made[0], report=score[1],
                  mode="pass", k=1, if_none_pass="empty")
    g = "Dataset"
    analyzer = wf.add("LikenessFaceAnalyzerLoader", "Face Analyzer", group=g, pack="buffalo_l", detector="auto",
                      det_size=640, det_thresh=0.5, device="auto")
    wf.add("LikenessDatasetWriter", "Dataset Writer", group=g, images=gate[0], dataset="character",
           caption=scene[0], trigger=TRIGGER, seed=seed[0], face_crops=True, crop_size=1024, crop_margin=0.8,
           prompt=instruction[0], report=gate[2], analyzer=analyzer[0])
    wf.add("LikenessIdentityReport", "Identity Report", group=g, report=score[1],
           filename_prefix="Likeness/datasets/character/identity")
    return wf


def train_character_lora() -> Workflow:
    name = "train-character-lora"
    wf = Workflow(name)
    wf.note(readme(name,
                   "The dataset dataset-enrichment wrote (`output/Likeness/datasets/character/`) → checked, only "
                   "the images that kept the identity, with their face crops → encoded by the Qwen-Image VAE and "
                   "text encoder → ComfyUI's own Train LoRA on Qwen-Image-2512 → `models/loras/"
                   "likeness_character.safetensors` (a new name if it exists) + the loss curve. Then generate with "
                   "it in character-lora.",
                   [f"Needs ComfyUI {version_text(MIN_COMFYUI[name][0])} or newer (Train LoRA's buckets and offloading).",
                    f"Every caption must hold the trigger word (dataset-enrichment writes `{TRIGGER}`): "
                    "Load Character Dataset checks it and names any image without a caption.",
                    "Rank 32, 1024 px, learning rate 1e-4, 2000 steps: the users' settings for 10-30 images "
                    "(about 100 steps an image; fewer images, fewer steps). Core's trainer has a constant "
                    "learning rate: no cosine schedule (the exported trainer configs have one).",
                    "For 24 GB: the fp8 base, offloading on, gradient checkpointing on, batch 1, bf16 LoRA.",
                    "Too slow or out of memory? `python -m likeness dataset export "
                    "ComfyUI/output/Likeness/datasets/character --for ai-toolkit` (or musubi, diffusers) writes "
                    "a ready 24 GB job for those trainers."]),
            group="Read me")
    unet, clip, vae = qwen_loaders(wf, "qwen_image_2512")
    g = "Dataset"
    data = wf.add("LikenessLoadCharacterDataset", "Load Character Dataset", group=g, dataset="character",
                  trigger="", only_passed=True, face_crops=True, resolution=1024)
    encoded = wf.add("MakeTrainingDataset", "Encode Dataset", group=g, images=data[0], vae=vae[0], clip=clip[0],
                     texts=data[1])
    buckets = wf.add("ResolutionBucket", "Resolution Buckets", group=g, latents=encoded[0],
                     conditioning=encoded[1])
    train = wf.add("TrainLoraNode", "Train LoRA", group="Train", controls={"seed": "fixed"}, model=unet[0],
                   latents=buckets[0], positive=buckets[1], batch_size=1, grad_accumulation_steps=1, steps=2000,
                   learning_rate=0.0001, rank=32, optimizer="AdamW", loss_function="MSE", seed=0,
                   training_dtype="bf16", lora_dtype="bf16", quantized_backward=False, algorithm="LoRA",
                   gradient_checkpointing=True, checkpoint_depth=1, offloading=True, existing_lora="[None]",
                   bucket_mode=True, bypass_mode=False)
    g = "Save"
    wf.add("LikenessSaveCharacterLora", "Save Character LoRA", group=g, lora=train[0], name=data[2],
           trigger=data[3], steps=train[2], loss=train[1])
    wf.add("LossGraphNode", "Loss Curve", group=g, loss=train[1], filename_prefix="Likeness/loss/character")
    return wf


def character_lora() -> Workflow:
    name = "character-lora"
    wf = Workflow(name)
    wf.note(readme(name,
                   "Qwen-Image-2512 text-to-image with the trained character LoRA (LoRA Stack, strength 1.0, the "
                   "trigger word in the prompt) → identity score against the reference photo → gate → saved "
                   "image + report. A face swap after it is one Ctrl+B away (bypassed).",
                   [f"Pick your LoRA in LoRA Stack (train-character-lora saves `likeness_<dataset>.safetensors`) "
                    f"and keep its trigger word (`{TRIGGER}`) in the prompt.",
                    "The report's pass rate is the share of images that kept the person: run a batch of prompts "
                    "and seeds (`python -m likeness run character-lora --batch Prompt.text=prompts.txt`) and "
                    "compare it with character-scene and faceswap on the same reference.",
                    "Face Swap (optional): select the group's nodes and Ctrl+B to swap the reference face in "
                    "and restore it, for the best of both."]),
            group="Read me")
    preset, clip, vae = qwen_models(wf, "qwen_image_2512", NONE, "Qwen-Image 2512 base (50 steps, cfg 4)",
                                    lora_1=CHARACTER_LORA)
    image = text_to_image(wf, preset, clip, vae, CHARACTER_PROMPT)
    ref = reference(wf)
    restored = face_swap_chain(wf, image, ref, group="Face Swap (optional)", bypassed=True)
    score = identity_score(wf, restored[0], ref)
    gate = wf.add("LikenessIdentityGate", "Identity Gate", group="Identity", images=restored[0], report=score[1],
                  mode="pass", k=1, if_none_pass="keep best")
    wf.add("LikenessIdentityReport", "Save Image + Report", group="Save", report=gate[2], images=gate[0],
           filename_prefix=f"Likeness/{name}")
    return wf


SHIPPED = {"character-scene": character_scene, "faceswap": faceswap, "faceswap-fast": lambda: faceswap(fast=True),
           "dataset-enrichment": dataset_enrichment, "train-character-lora": train_character_lora,
           "character-lora": character_lora}
