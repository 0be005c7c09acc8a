"""Offline tools: exporters, importers and profilers.

They make the model folders rtseg runs (``export-sam2`` from a PyTorch checkpoint, ``import-rvm`` from a
TensorFlow.js release) and measure them (``profile``). They may import torch, TensorFlow, onnx and the
``sam2`` package; nothing a job runs imports this package (the import contract in ``pyproject.toml``
says so, checked by ``tests/test_architecture.py``).
"""
