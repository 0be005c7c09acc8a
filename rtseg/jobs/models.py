"""Models kept loaded between jobs: a batch worker loads each model once and runs many items with it.

:class:`ModelCache` hands the builder a loaded model for each job; the job opens it (which starts a
new video: the model's per-video state is forgotten, its prompts are the job's) and its close()
leaves it loaded for the next job. The results equal those of a freshly loaded model: the selfie
models keep nothing between frames but the ROI tracking that ``open()`` resets, and SAM 2's
``open()`` resets its tracker (prompts, objects, memory) and keeps the ONNX Runtime sessions.
"""

from __future__ import annotations

from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.jobs.segmenters import model_options, prompts_of
from rtseg.jobs.spec import JobSpec
from rtseg.segment.base import Promptable, Segmenter
from rtseg.segment.registry import ModelOptions, create_segmenter

ModelKey = tuple[object, ...]


def model_key(name: str, o: ModelOptions) -> ModelKey:
    """What makes two jobs' models the same loaded model (prompts are per video, not per model)."""
    return (name, o.file, o.sha256, o.roi, o.roi_margin, o.redetect_every, o.model_dir, o.threads, o.provider,
            o.live)


class KeptOpen:
    """A cached model as one job sees it: ``open()`` starts the job's video, ``close()`` keeps it loaded."""

    def __init__(self, inner: Segmenter, spec: JobSpec) -> None:
        self.inner = inner
        self.spec = spec
        self.name = inner.name

    def open(self, info: StreamInfo | None = None) -> None:
        if isinstance(self.inner, Promptable):  # this video's prompts replace the previous video's
            self.inner.prompts = prompts_of(self.spec.model)
        self.inner.open(info)

    def segment(self, frame: Frame) -> MaskResult | None:
        return self.inner.segment(frame)

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        """The model stays loaded for the next job; :meth:`ModelCache.close` releases it."""


class ModelCache:
    """Loaded models by :func:`model_key`; a context manager that closes them all.

    >>> with ModelCache() as cache:
    ...     len(cache)
    0
    """

    def __init__(self) -> None:
        self._models: dict[ModelKey, Segmenter] = {}
        self.loads = 0
        """Models created so far (one per distinct model, however many jobs)."""

    def __len__(self) -> int:
        return len(self._models)

    def __enter__(self) -> ModelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, spec: JobSpec) -> Segmenter:
        """The job's model, loaded on first use and kept for the jobs after it."""
        options = model_options(spec)
        key = model_key(spec.model.name, options)
        model = self._models.get(key)
        if model is None:
            model = create_segmenter(spec.model.name, options)
            self._models[key] = model
            self.loads += 1
        return KeptOpen(model, spec)

    def close(self) -> None:
        models, self._models = list(self._models.values()), {}
        for model in models:
            model.close()
