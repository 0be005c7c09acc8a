"""A studio session's clicks and boxes: applied to its interactive session at once, and kept, in order,
as the prompts an export records."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rtseg.errors import ConfigError
from rtseg.segment.prompts import Prompt

if TYPE_CHECKING:
    from rtseg.segment.sam2.interactive import InteractiveSession


class PromptEditor:
    """The prompts of one interactive session. Each action answers the page: the frame, the object,
    and the objects now tracked (a click or box also how long its mask took)."""

    def __init__(self, session: InteractiveSession) -> None:
        self.session = session
        self.prompts: list[Prompt] = []
        """Every click and box still in effect, in order (a box replaces the object's earlier prompts on
        its frame; undo takes the object's last one back)."""

    def _on(self, frame: int, obj: int) -> list[Prompt]:
        return [p for p in self.prompts if p.frame == frame and p.obj_id == obj]

    def _apply(self, prompt: Prompt) -> dict[str, Any]:
        """The prompt's mask at once (the session checks the frame index and that it lies on the frame)."""
        t0 = time.perf_counter()
        self.session.add_prompt(prompt)
        ms = 1000 * (time.perf_counter() - t0)
        return {"frame": prompt.frame, "object": prompt.obj_id, "ms": round(ms, 1), "objects": self.session.obj_ids}

    def click(self, frame: int, obj: int, x: float, y: float, label: int) -> dict[str, Any]:
        """One click (label 1 include, 0 exclude), added to the object's earlier clicks on that frame: the
        object's mask there, at once (with how long it took)."""
        prompt = Prompt(frame, obj, points=((x, y),), labels=(label,), add=bool(self._on(frame, obj)))
        answer = self._apply(prompt)
        self.prompts.append(prompt)
        return answer

    def box(self, frame: int, obj: int, box: tuple[float, float, float, float]) -> dict[str, Any]:
        """A box for the object on that frame, in place of its earlier clicks there."""
        prompt = Prompt(frame, obj, box=box)
        answer = self._apply(prompt)
        self.prompts = [p for p in self.prompts if not (p.frame == frame and p.obj_id == obj)]
        self.prompts.append(prompt)
        return answer

    def undo(self, obj: int) -> dict[str, Any]:
        """Take back the object's last click: its frame's prompts are replayed without it."""
        mine = [i for i, p in enumerate(self.prompts) if p.obj_id == obj]
        if not mine:
            raise ConfigError(f"object {obj} has no click to undo")
        last = self.prompts.pop(mine[-1])
        self.session.clear_prompts(last.frame, obj)
        for prompt in self._on(last.frame, obj):  # the first replaces, the rest add (as when clicked)
            self.session.add_prompt(prompt)
        if not any(p.obj_id == obj for p in self.prompts):
            self.session.remove_object(obj)
        return {"frame": last.frame, "object": obj, "objects": self.session.obj_ids}

    def clear_object(self, obj: int) -> dict[str, Any]:
        """Forget the object: its masks and every prompt for it."""
        self.session.remove_object(obj)
        self.prompts = [p for p in self.prompts if p.obj_id != obj]
        return {"objects": self.session.obj_ids}
