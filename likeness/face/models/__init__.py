"""One class per face model kind, each with its constants beside it and pre-process / forward / post-process steps:
SCRFD (detector), ArcFace (recogniser), GenderAge (attributes), DlibFace (dlib's detector + recogniser). The
swappers (`face/swap.py`), restorers (`face/restore.py`) and the parser (`face/parse.py`) follow the same shape."""
