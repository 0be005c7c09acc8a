"""Effects that turn a frame and its alpha into output (blur, replace, cutout, overlay) and the composite stage."""

from rtseg.effects.base import CompositeStage, Effect, EffectChoice, MissingMask, SwitchableEffect
from rtseg.effects.blur import BlurEffect, background_blur, privacy_blur
from rtseg.effects.composite import blend, cover_resize, light_wrap, parse_colour
from rtseg.effects.cutout import CutoutEffect, OverlayEffect
from rtseg.effects.replace import ReplaceEffect

__all__ = ["BlurEffect", "CompositeStage", "CutoutEffect", "Effect", "EffectChoice", "MissingMask", "OverlayEffect",
           "ReplaceEffect", "SwitchableEffect", "background_blur", "blend", "cover_resize", "light_wrap",
           "parse_colour", "privacy_blur"]
