"""ONNX export of a trained model, int8 quantisation, and a parity check against PyTorch.

Two graphs can be exported:

- the **classifier** on cached features: inputs ``features`` float32 [B, T, D] (or
  [B, L, T, D] for a layer-weighted model) and ``lengths`` int64 [B] (valid frames), output
  ``emotion_logits`` [B, C]. It holds the trainable upstream top (if any) and the head.
- the **whole model** (``whole=True``): input ``waveform`` float32 [B, samples] at 16 kHz,
  output ``emotion_logits`` [B, C]; every waveform of a batch has the same length (no
  padding: a streaming window, a single file). Only for a Hugging Face upstream. For the
  fbank front-end the log-mel computation stays in PyTorch and only the network is exported
  (the classifier graph); ``export_onnx(whole=True)`` says so in its notes.

A model with the dimension head has a second output, ``dimensions`` [B, 3] (arousal, valence,
dominance on 0..1). A model of the dimensions only (``--task dimensions``) has that output
alone: its class head was never trained, so its logits are not exported.

Exports use the TorchScript exporter (``dynamo=False``), opset 17, dynamic batch and time
axes, and a batch of 2 examples of different lengths, which is what exported correctly at
every length (see STACK-NOTES). int8 is dynamic quantisation of the weights of MatMul/Gemm
(``quant_pre_process`` then ``quantize_dynamic(QInt8, reduce_range=True)``): it pays on the
large linear layers of an upstream, little on a small head. ``reduce_range`` (7-bit weights)
matters on CPUs without VNNI (AVX2 only): there onnxruntime's u8 x s8 kernels add pairs of
products in int16, which saturates with full-range weights; on a tiny HuBERT with a trained
head, 8-bit weights gave a logit error of 27 % of the logit range and 75 % argmax agreement,
7-bit weights 4 % and 100 %.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from sier.constants import SAMPLE_RATE
from sier.errors import InferenceError

log = logging.getLogger(__name__)

OPSET = 17
INT8_OP_TYPES = ("MatMul", "Gemm")  # dynamic int8 on these; Conv stays fp32 (ConvInteger is slow on CPU)


def output_names(model: nn.Module, dimensions_only: bool = False) -> tuple[str, ...]:
    """The graph outputs of `model`: emotion_logits, then dimensions where it has the head;
    dimensions alone for a model of the dimensions only."""
    if dimensions_only:
        return ("dimensions",)
    return ("emotion_logits", "dimensions") if _has_dimensions(model) else ("emotion_logits",)


def _select(out: dict[str, Tensor], names: Sequence[str]) -> Tensor | tuple[Tensor, ...]:
    return out[names[0]] if len(names) == 1 else tuple(out[n] for n in names)


class ClassifierGraph(nn.Module):
    """features [B, T, D], lengths [B] -> the model's `outputs` (output_names): the exported classifier."""

    def __init__(self, model: nn.Module, outputs: Sequence[str] = ("emotion_logits",)) -> None:
        super().__init__()
        self.model, self.outputs = model, tuple(outputs)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor | tuple[Tensor, ...]:
        return _select(self.model(features, lengths), self.outputs)


class WholeGraph(nn.Module):
    """waveform [B, samples] (equal lengths, 16 kHz) -> the model's `outputs` (output_names).

    `frontend(waveform [B, S]) -> features [B, T, D] or [B, L, T, D]` is the frozen upstream
    prefix run on a batch; `model(features, lengths)` is the SER model (top + head).
    """

    def __init__(self, frontend: nn.Module, model: nn.Module, outputs: Sequence[str] = ("emotion_logits",)) -> None:
        super().__init__()
        self.frontend = frontend
        self.model, self.outputs = model, tuple(outputs)

    def forward(self, waveform: Tensor) -> Tensor | tuple[Tensor, ...]:
        features = self.frontend(waveform)
        frames = features.shape[-2]
        lengths = torch.ones(features.shape[0], dtype=torch.long) * frames
        return _select(self.model(features, lengths), self.outputs)


@dataclass
class ParityReport:
    """How closely an ONNX graph follows the PyTorch model."""

    max_abs_diff: float | None  # over all cases, on the logits (None: a model of the dimensions only)
    agreement: float | None  # fraction of examples with the same argmax
    cases: list[dict] = field(default_factory=list)  # per (batch, length): diff and agreement
    rel_diff: float = 0.0  # max_abs_diff / the largest |logit - mean logit of its example| (scale-free)
    dimensions_max_abs_diff: float | None = None  # on the dimensions (0..1), for a model that predicts them

    def summary(self) -> str:
        parts = [] if self.max_abs_diff is None else [
            f"max |logit diff| {self.max_abs_diff:.2e} ({100 * self.rel_diff:.1f} % of the logit range)",
            f"argmax agreement {100 * self.agreement:.1f} %"]
        if self.dimensions_max_abs_diff is not None:
            parts.append(f"max |dimension diff| {self.dimensions_max_abs_diff:.2e}")
        return ", ".join(parts)


def compare_logits(reference: np.ndarray, got: np.ndarray) -> ParityReport:
    """Parity of two logit arrays [N, C] (one row per example): max |diff|, relative diff, agreement.

    The relative diff divides by the spread of the reference logits, so it means the same for
    a model with decisive logits and for a random one whose logits are nearly tied (where the
    argmax agreement says little)."""
    reference, got = np.asarray(reference, dtype=np.float64), np.asarray(got, dtype=np.float64)
    diff = float(np.abs(reference - got).max())
    spread = float(np.abs(reference - reference.mean(-1, keepdims=True)).max())
    return ParityReport(diff, _agreement(reference, got), rel_diff=diff / max(spread, 1e-12))


@dataclass
class ExportResult:
    """Paths written and parity checks run by :func:`export_model`."""

    kind: str  # "classifier" or "whole"
    onnx_path: Path
    parity: ParityReport | None = None
    int8_path: Path | None = None
    int8_parity: ParityReport | None = None
    notes: list[str] = field(default_factory=list)


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session; InferenceError if onnxruntime is missing or the file is bad."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise InferenceError("onnxruntime is not installed; pip install 'sier[export]'.") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise InferenceError(f"{path}: cannot load ONNX model ({exc}); re-run sier export.") from exc


def _export(module: nn.Module, args: tuple, path: Path, input_names, dynamic_axes) -> None:
    module.eval()
    outputs = list(module.outputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns about every traced branch
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(input_names),
            output_names=outputs,
            dynamic_axes={**dynamic_axes, **{name: {0: "batch"} for name in outputs}},
        )


def export_classifier(model: nn.Module, input_dim: int, path: str | os.PathLike, input_layers: int = 1,
                      dimensions_only: bool = False) -> Path:
    """Export `model` (features, lengths -> dict) as an ONNX graph features, lengths -> logits
    (and dimensions; or dimensions alone, see output_names)."""
    path = Path(path)
    shape = (2, 40, input_dim) if input_layers == 1 else (2, input_layers, 40, input_dim)
    features = torch.randn(*shape)
    lengths = torch.tensor([40, 27])
    time_axis = 1 if input_layers == 1 else 2
    _export(
        ClassifierGraph(model, output_names(model, dimensions_only)),
        (features, lengths),
        path,
        ["features", "lengths"],
        {"features": {0: "batch", time_axis: "frames"}, "lengths": {0: "batch"}},
    )
    return path


def _has_dimensions(model: nn.Module) -> bool:
    head = getattr(model, "head", model)  # an SERModel, or the bare head
    return getattr(getattr(head, "cfg", None), "num_dimensions", 0) > 0


def export_whole(frontend: nn.Module, model: nn.Module, path: str | os.PathLike, example_s: float = 1.0,
                 dimensions_only: bool = False) -> Path:
    """Export frontend + model as an ONNX graph waveform [B, samples] -> logits (see output_names)."""
    path = Path(path)
    waveform = 0.1 * torch.randn(2, int(example_s * SAMPLE_RATE))
    _export(WholeGraph(frontend, model, output_names(model, dimensions_only)), (waveform,), path, ["waveform"],
            {"waveform": {0: "batch", 1: "samples"}})
    return path


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Dynamic int8 quantisation (weights QInt8, 7-bit range) of MatMul/Gemm after onnxruntime's
    pre-processing; activations are quantised per call (uint8). Returns `dst`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    dst = Path(dst)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # pre-processing is an optimisation; quantise the raw graph without it
            log.warning("quant_pre_process failed (%s); quantising without it", exc)
            pre = Path(src)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=list(INT8_OP_TYPES),
                         reduce_range=True)  # 7-bit weights: no int16 saturation without VNNI (module doc)
    return dst


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(-1) == b.argmax(-1)))


def check_parity(
    reference: Callable[..., Tensor | tuple[Tensor, ...]],
    session,
    make_inputs: Callable[[int, int], dict[str, np.ndarray]],
    batch_sizes: Sequence[int] = (1, 2, 3),
    lengths: Sequence[int] = (50, 150, 301),
) -> ParityReport:
    """Compare `reference(**inputs)` (a graph module's outputs: a tensor or a tuple, in the
    order of the session's outputs) with the ONNX `session` on every (batch size, length)
    pair; inputs come from `make_inputs(batch, length)`."""
    names = [o.name for o in session.get_outputs()]
    cases, refs, gots = [], {n: [] for n in names}, {n: [] for n in names}
    for batch in batch_sizes:
        for length in lengths:
            inputs = make_inputs(batch, length)
            ref = dict(zip(names, _as_outputs(reference(**inputs))))
            got = dict(zip(names, session.run(None, inputs)))
            case = {"batch": batch, "length": length}
            for n in names:
                refs[n].append(ref[n])
                gots[n].append(got[n])
                case["max_abs_diff" if n == "emotion_logits" else f"{n}_max_abs_diff"] = \
                    float(np.abs(ref[n] - got[n]).max())
            if "emotion_logits" in names:
                case["agreement"] = _agreement(ref["emotion_logits"], got["emotion_logits"])
            cases.append(case)
    joined = {n: (np.concatenate(refs[n]), np.concatenate(gots[n])) for n in names}
    report = compare_logits(*joined["emotion_logits"]) if "emotion_logits" in joined else ParityReport(None, None)
    report.cases = cases
    if "dimensions" in joined:
        report.dimensions_max_abs_diff = float(np.abs(joined["dimensions"][0] - joined["dimensions"][1]).max())
    return report


def _as_outputs(out: Tensor | tuple[Tensor, ...]) -> list[np.ndarray]:
    """A graph's outputs as numpy arrays."""
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def classifier_parity(model: nn.Module, session, input_dim: int, input_layers: int = 1, seed: int = 0,
                      batch_sizes=(1, 2, 3), lengths=(50, 150, 301)) -> ParityReport:
    """Parity of an exported classifier: random features, batches with unequal lengths."""
    gen = np.random.default_rng(seed)

    def make(batch: int, length: int) -> dict[str, np.ndarray]:
        shape = (batch, length, input_dim) if input_layers == 1 else (batch, input_layers, length, input_dim)
        lens = np.array([length] + [int(gen.integers(max(1, length // 3), length + 1)) for _ in range(batch - 1)])
        return {"features": gen.standard_normal(shape).astype(np.float32), "lengths": lens.astype(np.int64)}

    graph = ClassifierGraph(model, [o.name for o in session.get_outputs()]).eval()

    def ref(features, lengths):
        with torch.inference_mode():
            return graph(torch.from_numpy(features), torch.from_numpy(lengths))

    return check_parity(ref, session, make, batch_sizes, lengths)


def whole_parity(frontend: nn.Module, model: nn.Module, session, seed: int = 0,
                 batch_sizes=(1, 2), seconds=(0.5, 1.5, 3.0)) -> ParityReport:
    """Parity of an exported whole model on random waveforms of several durations."""
    gen = np.random.default_rng(seed)

    def make(batch: int, length: int) -> dict[str, np.ndarray]:
        return {"waveform": (0.1 * gen.standard_normal((batch, length))).astype(np.float32)}

    graph = WholeGraph(frontend, model, [o.name for o in session.get_outputs()]).eval()

    def ref(waveform):
        with torch.inference_mode():
            return graph(torch.from_numpy(waveform))

    lengths = [int(s * SAMPLE_RATE) for s in seconds]
    return check_parity(ref, session, make, batch_sizes, lengths)


class BatchedPrefix(nn.Module):
    """A FrozenPrefix run on a batch of equal-length waveforms, for export:
    `[B, samples]` -> `[B, frames, dim]` (or `[B, L+1, frames, dim]`), float32 only.

    Mirrors FrozenPrefix.forward, with the per-utterance normalisation done per row."""

    def __init__(self, prefix: nn.Module) -> None:
        super().__init__()
        self.prefix = prefix

    def forward(self, waveform: Tensor) -> Tensor:
        p = self.prefix
        if p.do_normalize:
            mean = waveform.mean(dim=1, keepdim=True)
            var = ((waveform - mean) ** 2).mean(dim=1, keepdim=True)
            waveform = (waveform - mean) / torch.sqrt(var + 1e-7)
        p_norm, p.do_normalize = p.do_normalize, False
        try:
            hidden = p.embed(waveform)  # [B, frames, dim]
        finally:
            p.do_normalize = p_norm
        return p.run_layers(hidden)  # equal lengths: no padding, no mask


def export_model(checkpoint: str | os.PathLike, out: str | os.PathLike, whole: bool = False,
                 quantize: str | None = None, check: bool = True) -> ExportResult:
    """Export a sier checkpoint to ONNX (classifier, or `whole` model with its upstream),
    optionally also as int8 (`quantize="int8"`, written next to `out` as `<stem>.int8.onnx`),
    and check parity with PyTorch. Raises InferenceError."""
    from sier.inference.recognizer import Recognizer

    if quantize not in (None, "int8"):
        raise InferenceError(f"unknown quantisation {quantize!r}; only int8 is supported.")
    rec = Recognizer.from_checkpoint(checkpoint)
    cfg = rec.model.head.cfg
    out = Path(out)
    notes: list[str] = []
    if whole and rec.info["upstream"] == "fbank":
        notes.append("fbank front-end: the log-mel computation stays in PyTorch/numpy; only the network "
                     "(features, lengths -> logits) is exported")
        whole = False
    top = rec.model.upstream_top
    dim = top.config.hidden_size if top is not None else cfg.input_dim
    layers = 1 if top is not None else cfg.input_layers
    try:
        if whole:
            frontend = BatchedPrefix(rec.frontend)
            export_whole(frontend, rec.model, out, dimensions_only=rec.dimensions_only)
        else:
            export_classifier(rec.model, dim, out, layers, rec.dimensions_only)
    except Exception as exc:  # the exporter raises many types; say which graph failed
        raise InferenceError(f"ONNX export of the {'whole model' if whole else 'classifier'} failed: {exc}") from exc
    result = ExportResult("whole" if whole else "classifier", out, notes=notes)

    def parity(path: Path) -> ParityReport:
        session = onnx_session(path)
        if whole:
            return whole_parity(frontend, rec.model, session)
        return classifier_parity(rec.model, session, dim, layers)

    if check:
        result.parity = parity(out)
    if quantize == "int8":
        result.int8_path = quantize_int8(out, out.with_name(out.stem + ".int8.onnx"))
        if check:
            result.int8_parity = parity(result.int8_path)
    return result
