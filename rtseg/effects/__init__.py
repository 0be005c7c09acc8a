"""Effects that turn a frame and its alpha into output: blur, replace, cutout, overlay."""

from rtseg.effects.base import Effect, EffectStage
from rtseg.effects.blur import BlurEffect, background_blur
from rtseg.effects.composite import blend, cover_resize, parse_colour
from rtseg.effects.cutout import CutoutEffect, OverlayEffect, alpha_to_u8
from rtseg.effects.replace import ReplaceEffect

__all__ = ["BlurEffect", "CutoutEffect", "Effect", "EffectStage", "OverlayEffect", "ReplaceEffect",
           "alpha_to_u8", "background_blur", "blend", "cover_resize", "parse_colour"]
