"""Reading a SAM 2 or EdgeTAM checkpoint file (a torch ``{"model": state_dict}``) for the export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtseg.errors import ModelError


def load_checkpoint(checkpoint: Path, kind: str) -> dict[str, Any]:
    """The ``model`` state dict of ``checkpoint``, read on the CPU with ``weights_only``.

    ``kind`` names the expected model in the error ("a SAM 2", "an EdgeTAM"). Raises
    :class:`ModelError` for a file torch cannot read or one without a ``model`` entry.
    """
    import torch

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read checkpoint {checkpoint}: {exc}") from exc
    if not isinstance(state, dict) or "model" not in state:
        raise ModelError(f"{checkpoint} is not {kind} checkpoint: expected a dict with key 'model'")
    return state["model"]
