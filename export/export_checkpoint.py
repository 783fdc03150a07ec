"""``unsing export CHECKPOINT -o MODEL.onnx``: both graphs, with parity checked and printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from unsing.errors import ModelFileError
from unsing.export.onnx_export import (
    MASK_ATOL,
    check_parity,
    contract_metadata,
    export_streaming_graph,
    export_window_graph,
    file_sha256,
)
from unsing.long_band import LongBandLayout
from unsing.models import spectral
from unsing.models.data import load_audio
from unsing.models.unet import StreamingUNet
from unsing.realtime.onnx_model import window_graph_path
from unsing.stft import StftSpec

#: Seconds of real audio the parity check runs on.
PARITY_SECONDS = 8.0


@dataclass
class ExportReport:
    """What was written and how closely the graphs agree."""

    streaming_path: Path
    window_path: Path
    parity: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every difference within :data:`MASK_ATOL`."""
        return all(v <= MASK_ATOL for errors in self.parity.values() for v in errors.values())

    def lines(self) -> list[str]:
        """Human-readable summary."""
        lines = [
            f"streaming graph: {self.streaming_path}",
            f"window graph:    {self.window_path}",
            f"parity (max |mask difference|, tolerance {MASK_ATOL:g}):",
        ]
        for source, errors in self.parity.items():
            lines.append(f"  {source:<24}" + "  ".join(f"{k} {v:.2e}" for k, v in errors.items()))
        lines.append("parity: OK" if self.ok else "parity: FAILED")
        return lines


def export_checkpoint(checkpoint: Path, out: Path, audio: Path | None = None) -> ExportReport:
    """Export both graphs of ``checkpoint`` next to ``out`` and check parity.

    Args:
        checkpoint: a ``.pt`` from ``unsing train`` or ``models/pretrained``.
        out: the streaming graph's path; the window graph goes to ``name.window.onnx``.
        audio: a real recording for the parity check (its first seconds); None: random only.
    """
    from unsing.models.checkpoint import load_checkpoint

    try:
        model, state = load_checkpoint(checkpoint)
    except Exception as error:  # torch.load raises pickle, zip, runtime and key errors
        raise ModelFileError(f"{checkpoint}: not a usable unsing checkpoint ({error})") from None
    digest = file_sha256(checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    window_path = window_graph_path(out)
    export_streaming_graph(
        model, out, contract_metadata(state, "streaming", digest, StreamingUNet(model))
    )
    export_window_graph(model, window_path, contract_metadata(state, "window", digest))
    report = ExportReport(out, window_path)
    config = model.config
    generator = np.random.default_rng(0)
    frames = max(120, config.receptive_field_frames + 40)  # a full window, then 40 more
    random_magnitude = generator.gamma(
        0.5, 4.0, (1, config.audio_channels, config.input_bins, frames)
    )
    report.parity["random input"] = check_parity(
        model, out, window_path, random_magnitude.astype(np.float32)
    )
    if audio is not None:
        contract = state["contract"]
        spec = StftSpec(contract["n_fft"], contract["hop_samples"], contract["window"])
        signal = load_audio(audio, contract["sample_rate_hz"])
        signal = signal[:, : int(PARITY_SECONDS * contract["sample_rate_hz"])]
        if signal.shape[0] != config.audio_channels:
            signal = np.repeat(signal[:1], config.audio_channels, axis=0)
        signal = torch.from_numpy(signal)[None]
        magnitude = spectral.stft(signal, spec).abs()
        layout = LongBandLayout.from_architecture(state["architecture"], spec)
        if layout is not None:  # the long band's inputs follow the STFT's bins
            long_magnitude = spectral.stft(signal, layout.spec)[..., : layout.input_bins, :]
            magnitude = torch.cat([magnitude, long_magnitude.abs()], dim=-2)
        magnitude = magnitude.numpy()
        report.parity[f"{Path(audio).name[:22]}"] = check_parity(
            model, out, window_path, magnitude.astype(np.float32)
        )
    return report
