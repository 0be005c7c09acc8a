"""Jobs: the one job model (:class:`JobSpec`) and the builder that turns it into a pipeline."""

from rtseg.jobs.build import Overrides, build
from rtseg.jobs.loading import load_toml, merge
from rtseg.jobs.outputs import OutputKind
from rtseg.jobs.pipeline import JobPipeline
from rtseg.jobs.spec import EffectKind, JobKind, JobSpec, SchedulePolicy

__all__ = ["EffectKind", "JobKind", "JobPipeline", "JobSpec", "OutputKind", "Overrides", "SchedulePolicy", "build",
           "load_toml", "merge"]
