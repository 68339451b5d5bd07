"""Whether torch is tracing a module for an export right now."""

from __future__ import annotations

import torch


def exporting() -> bool:
    """True while torch traces a module (TorchScript) or exports it to ONNX: code paths with
    Python loops or shapes that depend on the data take their plain, traceable form then."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
