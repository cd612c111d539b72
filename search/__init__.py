"""The read path: open an index, retrieve, pick highlights, build citations."""

from .engine import Engine, open_index
from .models import Answer, AskResponse, Citation, Highlight, Passage, Question

__all__ = ["Engine", "open_index", "Answer", "AskResponse", "Citation", "Highlight", "Passage", "Question"]
