"""The pack loads into a real ComfyUI and every node it declares is registered."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def declared_node_ids() -> set[str]:
    ids = set()
    for path in (REPO / "nodes").glob("*.py"):
        ids.update(re.findall(r'node_id="(Likeness\w+)"', path.read_text()))
    return ids


def test_every_declared_node_is_registered(comfy):
    info = comfy.object_info()
    declared = declared_node_ids()
    assert "LikenessInfo" in declared
    missing = sorted(declared - set(info))
    assert not missing, f"declared but not registered: {missing}\n{comfy.log_tail()}"
    for node_id in declared:
        assert info[node_id]["category"].startswith("Likeness"), node_id


def test_info_node_runs_through_the_api(comfy):
    outputs = comfy.run({"1": {"class_type": "LikenessInfo", "inputs": {}}})
    text = outputs["1"]["text"][0]
    assert text.startswith("ComfyUI-Likeness ") and "device: cpu" in text


def test_broken_graph_is_rejected_with_the_servers_message(comfy):
    import pytest

    from likeness.runner.client import PromptRejected

    with pytest.raises(PromptRejected) as err:
        comfy.run({"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}})
    assert "images" in str(err.value)
