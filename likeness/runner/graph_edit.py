"""Load a workflow (a shipped name or a file, API or UI format) and change its inputs by node title.

    graph = load("faceswap-fast")                       # workflows/api/faceswap-fast.json
    assign(graph, "Prompt.text=portrait of a sailor")   # TITLE.INPUT=VALUE, TITLE may contain dots
"""
from __future__ import annotations

import json
from pathlib import Path

from .. import PACK
from ..errors import LikenessError



class WorkflowError(LikenessError):
    pass


def load(ref: str) -> dict:
    """A shipped workflow by name, or a JSON file; UI-format files are returned as they are (see is_ui)."""
    path = Path(ref)
    if not path.is_file():
        shipped = PACK / "workflows" / "api" / f"{ref}.json"
        if not shipped.is_file():
            names = sorted(p.stem for p in (PACK / "workflows" / "api").glob("*.json"))
            raise WorkflowError(f"No workflow '{ref}': give a file, or one of {', '.join(names)}.")
        path = shipped
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise WorkflowError(f"{path} is not valid JSON: {e}") from e


def is_ui(doc: dict) -> bool:
    return isinstance(doc.get("nodes"), list) and "links" in doc


def find_node(graph: dict, title: str) -> str:
    """The id of the node with this title (exact, then case-insensitive), or with this id."""
    for match in (lambda t: t == title, lambda t: t.lower() == title.lower()):
        hits = [k for k, n in graph.items() if match(n.get("_meta", {}).get("title", ""))]
        if len(hits) > 1:
            raise WorkflowError(f"Several nodes are titled '{title}' (ids {', '.join(hits)}): use an id instead.")
        if hits:
            return hits[0]
    if title in graph:
        return title
    titles = sorted(n.get("_meta", {}).get("title", k) for k, n in graph.items())
    raise WorkflowError(f"No node titled '{title}'. Titles in this workflow: {', '.join(titles)}.")


def split_assignment(text: str) -> tuple[str, str, str]:
    """'Title.input=value' -> (title, input, value)."""
    key, sep, value = text.partition("=")
    title, dot, name = key.rpartition(".")
    if not sep or not dot or not title or not name:
        raise WorkflowError(f"Expected TITLE.INPUT=VALUE, got '{text}'.")
    return title.strip(), name.strip(), value


def coerce(old, raw: str):
    """The text from the command line as the type the input already holds (JSON for new inputs)."""
    if isinstance(old, bool):
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise WorkflowError(f"Expected true or false, got '{raw}'.")
    if isinstance(old, (int, float)):
        try:
            number = float(raw)
        except ValueError:
            raise WorkflowError(f"Expected a number, got '{raw}'.") from None
        return int(number) if isinstance(old, int) and number.is_integer() else number
    if isinstance(old, str):
        return raw
    try:  # a linked or a new input: numbers and booleans as such, anything else as text
        value = json.loads(raw)
        return value if isinstance(value, (int, float, bool)) else raw
    except ValueError:
        return raw


def set_input(graph: dict, title: str, name: str, raw: str) -> None:
    node = graph[find_node(graph, title)]
    node.setdefault("inputs", {})
    old = node["inputs"].get(name)
    if isinstance(old, list):  # a link: the value replaces it, the numbers follow the widget's type
        old = None
    node["inputs"][name] = coerce(old, raw)


def assign(graph: dict, text: str) -> None:
    set_input(graph, *split_assignment(text))


def title_of(graph: dict, node_id: str) -> str:
    node = graph.get(str(node_id), {})
    return node.get("_meta", {}).get("title") or node.get("class_type", str(node_id))
