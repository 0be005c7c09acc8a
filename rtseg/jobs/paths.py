"""Checks on a job's files before anything runs: never write over an input, never fail late.

* No output (video, folder, masks, recording, RLE, logits, stats JSON) may be an input (the source,
  a background, a mask prompt, a prompts file, a model file, the config file) or lie inside an input
  folder, and no two outputs may be the same file, however they are spelled: relative, ``./``,
  through a symlink or as a hard link (files are compared, not strings).
* Every output's folder must exist and be writable, a file output must not be an existing folder
  (and a folder output not an existing file), a video output's name must end in a container rtseg
  writes, and the encoder settings must be ones the encoder knows.
* An existing folder output must be empty or rtseg's own earlier output
  (:func:`~rtseg.sinks.atomic.check_replaceable`): rtseg never deletes what it did not write.

Each problem is one :class:`~rtseg.errors.ConfigError` (exit code 2) raised by :func:`check_files`,
which :func:`rtseg.jobs.build` calls, so the CLI, the Python API and batch items all get it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rtseg.errors import ConfigError
from rtseg.jobs.outputs import ALPHA_VIDEO_SUFFIXES, FOLDER_KINDS, VIDEO_SUFFIXES, OutputKind, writes_images
from rtseg.jobs.spec import EffectKind, JobSpec
from rtseg.sinks.atomic import check_replaceable
from rtseg.sinks.images import IMAGE_FILE_SUFFIX

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


@dataclass(frozen=True)
class Named:
    """A path with what it is for, for messages (``--masks lucia-masks``)."""

    what: str
    path: Path


def _is_colour(text: str) -> bool:
    return text.strip().startswith("#")


def inputs_of(spec: JobSpec, config: str | os.PathLike[str] | None = None) -> list[Named]:
    """Every local file or folder the job reads."""
    from rtseg.sources import is_special_input

    out: list[Named] = []
    src = spec.source.path
    if src is not None and not is_special_input(src):
        out.append(Named("the input", Path(src)))
    out += [Named("the background", Path(b)) for b in spec.effect.backgrounds if not _is_colour(b)]
    model = spec.model
    out += [Named("the mask prompt", Path(p.mask)) for p in model.prompts if p.mask]
    for what, value in (("the prompts file", model.prompts_file), ("the model file", model.file),
                        ("the model directory", model.dir)):
        if value:
            out.append(Named(what, Path(value)))
    if config is not None:
        out.append(Named("the config file", Path(config)))
    return out


def outputs_of(spec: JobSpec) -> list[tuple[Named, OutputKind | None]]:
    """Every file or folder the job writes, with its output kind (None: the stats JSON)."""
    out: list[tuple[Named, OutputKind | None]] = []
    for o in spec.outputs:
        if o.path:
            flag = {"video": "-o", "images": "-o", "record": "--record"}.get(o.kind.value, f"--{o.kind.value}")
            out.append((Named(f"{flag} {o.path}", Path(o.path)), o.kind))
    if spec.run.stats_json:
        out.append((Named(f"--stats-json {spec.run.stats_json}", Path(spec.run.stats_json)), None))
    return out


def _real(path: Path) -> Path:
    """The path with symlinks resolved, also when it does not exist yet (its folder is resolved)."""
    return Path(os.path.realpath(path))


def same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name one file or folder: the same real path, or the same inode (hard links)."""
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def inside(path: Path, folder: Path) -> bool:
    """True if ``path`` is ``folder`` or lies anywhere below it (after resolving symlinks)."""
    p, f = _real(path), _real(folder)
    return p == f or f in p.parents


def check_no_overwrite(spec: JobSpec, config: str | os.PathLike[str] | None = None) -> None:
    inputs = inputs_of(spec, config)
    outputs = outputs_of(spec)
    for named, _ in outputs:
        for inp in inputs:
            if same_file(named.path, inp.path):
                raise ConfigError(f"{named.what} is {inp.what} ({inp.path}): refusing to write over an input")
            if inp.path.is_dir() and inside(named.path, inp.path):
                raise ConfigError(f"{named.what} lies inside {inp.what} folder ({inp.path}): refusing to write "
                                  "into an input")
            if named.path.is_dir() and inside(inp.path, named.path):
                raise ConfigError(f"{named.what} is a folder that holds {inp.what} ({inp.path}): it would be "
                                  "replaced")
    for i, (a, _) in enumerate(outputs):
        for b, _ in outputs[i + 1:]:
            if same_file(a.path, b.path) or inside(a.path, b.path) or inside(b.path, a.path):
                raise ConfigError(f"{a.what} and {b.what} name the same file: give each output its own name")


def is_image_file(path: Path, kind: OutputKind | None) -> bool:
    """An images or masks output named ``NAME.png``: one image for a one-frame input."""
    return kind in (OutputKind.IMAGES, OutputKind.MASKS) and path.suffix.lower() == IMAGE_FILE_SUFFIX


def check_writable(spec: JobSpec) -> None:
    for named, kind in outputs_of(spec):
        path = named.path
        parent = path.resolve().parent
        if not parent.exists():
            raise ConfigError(f"{named.what}: folder {parent} does not exist")
        if not parent.is_dir():
            raise ConfigError(f"{named.what}: {parent} is not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{named.what}: folder {parent} is not writable")
        if kind in FOLDER_KINDS and not is_image_file(path, kind):
            if path.exists() and not path.is_dir():
                raise ConfigError(f"{named.what}: {path} exists and is not a folder")
            check_replaceable(path, named.what)  # new, empty or rtseg's own: never a folder of the user's
        elif path.is_dir():
            raise ConfigError(f"{named.what}: {path} is a folder; expected a file name")


def check_names(spec: JobSpec) -> None:
    cutout = spec.effective_effect is EffectKind.CUTOUT
    for o in spec.outputs:
        if o.path is None:
            continue
        suffix = Path(o.path).suffix.lower()
        if o.kind in (OutputKind.VIDEO, OutputKind.RECORD):
            allowed = ALPHA_VIDEO_SUFFIXES if cutout else VIDEO_SUFFIXES
            if suffix not in allowed:
                raise ConfigError(f"cannot write a video to {Path(o.path).name!r}: expected a name ending in "
                                  f"{', '.join(allowed)}{' or a folder' if o.kind is OutputKind.VIDEO else ''}")
        elif o.kind in (OutputKind.IMAGES, OutputKind.MASKS) and not writes_images(o.path):
            raise ConfigError(f"{Path(o.path).name!r}: {o.kind.value} go to a folder (a name without a suffix), "
                              f"or, for a one-frame input, to one {IMAGE_FILE_SUFFIX} file")
        elif o.kind is OutputKind.RLE and suffix != ".json":
            raise ConfigError(f"--rle writes JSON: expected a name ending in .json, got {Path(o.path).name!r}")


def check_encoder(spec: JobSpec) -> None:
    import av

    enc = spec.encoder
    if enc.codec is not None:
        try:
            codec = av.codec.Codec(enc.codec, "w")
        except Exception:  # av raises its own error types for unknown names
            raise ConfigError(f"unknown video encoder {enc.codec!r} (e.g. libx264, libvpx-vp9, prores_ks)") from None
        if codec.type != "video":
            raise ConfigError(f"{enc.codec!r} is not a video encoder")
    codec_name = enc.codec or "libx264"
    if enc.preset is not None and codec_name == "libx264" and enc.preset not in X264_PRESETS:
        raise ConfigError(f"unknown x264 preset {enc.preset!r}; expected one of: {', '.join(X264_PRESETS)}")


def check_files(spec: JobSpec, config: str | os.PathLike[str] | None = None) -> None:
    """Every check above; raises the first problem as one ConfigError."""
    check_no_overwrite(spec, config)  # first: "this would overwrite your input" matters most
    check_names(spec)
    check_encoder(spec)
    check_writable(spec)
