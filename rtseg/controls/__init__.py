"""Live-only controls the builder wires into a live job: hotkeys, click-to-track, adaptive rate, status line.

Sources, stages and sinks never import these; the builder connects them through callbacks
(``PreviewSink(on_key=..., on_mouse=...)``), a :class:`~rtseg.segment.prompts.PromptFeed` and
listeners that switch the composite's effect.
"""
