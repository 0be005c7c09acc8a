"""Turn a :class:`~rtseg.config.JobConfig` into a running pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rtseg.config import Command, JobConfig
from rtseg.effects import BlurEffect, CutoutEffect, Effect, EffectStage, OverlayEffect, ReplaceEffect, parse_colour
from rtseg.errors import ConfigError
from rtseg.graph import Pipeline, ProcessStage, RunStats, SinkStage, SourceStage
from rtseg.graph.pipeline import OutputCallback
from rtseg.segment import SegmentStage
from rtseg.sinks import EncoderSettings, MaskSink, PngFolderSink, VideoFileSink
from rtseg.sources import ImageFolderSource, VideoFileSource, open_source
from rtseg.temporal import CarryStage, MaskStage

ALPHA_VIDEO_SUFFIXES = {".webm", ".mov"}


@dataclass
class SourceInfo:
    """What the sinks need to know about the input before the first frame."""

    fps: object
    time_base: object
    frames: int
    audio_path: str | None


def probe_source(source: SourceStage) -> SourceInfo:
    """Open and close ``source`` once to learn its fps, time base and length (and fail early)."""
    source.open()
    try:
        audio = None
        if isinstance(source, VideoFileSource) and source.has_audio:
            audio = source.path
        return SourceInfo(getattr(source, "fps", 30), getattr(source, "time_base", None),
                          int(getattr(source, "declared_frames", 0) or 0), audio)
    finally:
        source.close()


def build_effect(cfg: JobConfig) -> Effect | None:
    e = cfg.effect
    if cfg.command is Command.BLUR:
        return BlurEffect(strength=e.strength, halo_free=e.halo_free)
    if cfg.command is Command.REPLACE:
        assert e.background
        return ReplaceEffect(e.background, light_wrap=e.light_wrap)
    if cfg.command is Command.CUTOUT:
        return CutoutEffect()
    if cfg.command is Command.OVERLAY:
        colour = parse_colour(e.overlay_colour)
        if colour is None:
            raise ConfigError(f"overlay_colour must be #RRGGBB, got {e.overlay_colour!r}")
        return OverlayEffect(colour, e.overlay_opacity)
    return None


def encoder_settings(cfg: JobConfig, path: Path, alpha: bool) -> EncoderSettings:
    settings = EncoderSettings.for_path(path, alpha=alpha)
    enc = cfg.encoder
    if enc.codec:
        settings.codec = enc.codec
        if enc.codec != "libx264":
            settings.options = {}
    if enc.crf is not None:
        settings.options["crf"] = str(enc.crf)
    if enc.preset is not None:
        settings.options["preset"] = enc.preset
        # The default's x264-params tune rate control for its own preset; a chosen preset gets its own.
        settings.options.pop("x264-params", None)
    return settings


def build_sinks(cfg: JobConfig, info: SourceInfo) -> list[SinkStage]:
    sinks: list[SinkStage] = []
    if cfg.output and cfg.command is not Command.SEGMENT:
        out = Path(cfg.output)
        if cfg.command is Command.CUTOUT:
            if out.suffix.lower() in ALPHA_VIDEO_SUFFIXES:
                sinks.append(VideoFileSink(out, fps=info.fps, time_base=info.time_base,  # type: ignore[arg-type]
                                           audio_from=info.audio_path, alpha=True,
                                           settings=encoder_settings(cfg, out, alpha=True)))
            elif out.suffix == "" or out.is_dir():
                sinks.append(PngFolderSink(out))
            else:
                raise ConfigError(f"cutout needs an alpha-capable output: OUTPUT.webm, OUTPUT.mov or a "
                                  f"directory, got {out.name!r}")
        elif out.suffix == "" or out.is_dir():
            sinks.append(PngFolderSink(out))
        else:
            sinks.append(VideoFileSink(out, fps=info.fps, time_base=info.time_base,  # type: ignore[arg-type]
                                       audio_from=info.audio_path, settings=encoder_settings(cfg, out, alpha=False)))
    if cfg.masks:
        sinks.append(MaskSink(cfg.masks))
    if not sinks:
        raise ConfigError("nothing to write: give an output or a masks folder")
    return sinks


def mask_stages(cfg: JobConfig) -> list[ProcessStage]:
    """Segment (raw model, or with ROI refinement) then the mask stage (smoothing + edge refinement)."""
    make = cfg.mask.segmenter_factory(cfg.model.name, cfg.model.file, cfg.model.sha256)
    k = cfg.mask.infer_every
    stages: list[ProcessStage] = [
        SegmentStage(make(), upsample=False, infer_every=k),
        MaskStage(cfg.mask.smoothing_options(), cfg.mask.refine_options(), pass_through_missing=k > 1),
    ]
    if k > 1:
        stages.append(CarryStage())
    return stages


def build_pipeline(cfg: JobConfig, on_output: OutputCallback | None = None) -> tuple[Pipeline, SourceInfo]:
    """Source, segmenter, effect and sinks for ``cfg``, checked before any frame is decoded."""
    source = open_source(cfg.input)
    info = probe_source(source)
    stages: list[ProcessStage] = mask_stages(cfg)
    effect = build_effect(cfg)
    if effect is not None:
        stages.append(EffectStage(effect))
    sinks = build_sinks(cfg, info)
    pipeline = Pipeline(source, stages, sinks if len(sinks) > 1 else sinks[0],
                        queue_size=cfg.run.queue_size, on_output=on_output)
    return pipeline, info


def run_job(cfg: JobConfig, on_output: OutputCallback | None = None,
            on_start: Callable[[SourceInfo], None] | None = None) -> RunStats:
    """Run one job to completion and return its stats (also written to ``run.stats_json`` if set)."""
    pipeline, info = build_pipeline(cfg, on_output)
    if on_start is not None:
        on_start(info)
    stats = pipeline.run()
    stats.extra.update({"command": cfg.command.value, "input": cfg.input, "model": cfg.model.name})
    if cfg.run.stats_json:
        stats.write_json(cfg.run.stats_json)
    return stats


__all__ = ["ImageFolderSource", "SourceInfo", "build_pipeline", "run_job"]
