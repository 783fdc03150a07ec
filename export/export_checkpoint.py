"""``unsing export CHECKPOINT -o MODEL.onnx``: the three graphs (streaming, window, sequence), with
parity checked and printed."""

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
    export_sequence_graph,
    export_streaming_graph,
    export_window_graph,
    file_sha256,
)
from unsing.long_band import LongBandLayout
from unsing.models import spectral
from unsing.models.data import load_audio
from unsing.models.unet import StreamingUNet
from unsing.realtime.onnx_model import window_graph_path
from unsing.realtime.sequence_model import sequence_graph_path
from unsing.stft import StftSpec

#: Seconds of real audio the parity check runs on.
PARITY_SECONDS = 8.0

#: The graphs ``unsing export`` writes.
GRAPHS = ("streaming", "window", "sequence")


@dataclass
class ExportReport:
    """What was written and how closely the graphs agree."""

    streaming_path: Path
    window_path: Path
    sequence_path: Path
    parity: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The graphs this export wrote (the others were only checked).
    written: tuple[str, ...] = GRAPHS

    @property
    def ok(self) -> bool:
        """Every difference within :data:`MASK_ATOL`."""
        return all(v <= MASK_ATOL for errors in self.parity.values() for v in errors.values())

    def lines(self) -> list[str]:
        """Human-readable summary."""
        paths = {
            "streaming": self.streaming_path,
            "window": self.window_path,
            "sequence": self.sequence_path,
        }
        lines = [
            f"{name + ' graph:':<17}{path}" + ("" if name in self.written else " (kept)")
            for name, path in paths.items()
        ]
        lines.append(f"parity (max |mask difference|, tolerance {MASK_ATOL:g}):")
        for source, errors in self.parity.items():
            lines.append(f"  {source}")
            lines += [f"    {name:<30}{value:.2e}" for name, value in errors.items()]
        lines.append("parity: OK" if self.ok else "parity: FAILED")
        return lines


def export_checkpoint(
    checkpoint: Path,
    out: Path,
    audio: Path | None = None,
    graphs: tuple[str, ...] = GRAPHS,
) -> ExportReport:
    """Export the graphs of ``checkpoint`` next to ``out`` and check parity.

    Args:
        checkpoint: a ``.pt`` from ``unsing train`` or ``models/pretrained``.
        out: the streaming graph's path; the window graph goes to ``name.window.onnx``, the
            sequence graph to ``name.sequence.onnx``.
        audio: a real recording for the parity check (its first seconds); None: random only.
        graphs: the graphs to write (default all three); the others must exist already and
            are checked as they are (e.g. adding the sequence graph to a committed model
            without rewriting its other files).
    """
    unknown = sorted(set(graphs) - set(GRAPHS))
    if unknown:
        raise ValueError(f"unknown graphs {unknown}: allowed {', '.join(GRAPHS)}")
    from unsing.models.checkpoint import load_checkpoint

    try:
        model, state = load_checkpoint(checkpoint)
    except Exception as error:  # torch.load raises pickle, zip, runtime and key errors
        raise ModelFileError(f"{checkpoint}: not a usable unsing checkpoint ({error})") from None
    digest = file_sha256(checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    window_path, sequence_path = window_graph_path(out), sequence_graph_path(out)
    paths = dict(zip(GRAPHS, (out, window_path, sequence_path), strict=True))
    for name, path in paths.items():
        if name not in graphs and not path.is_file():
            raise ModelFileError(
                f"{path}: not found (parity needs it: export the {name} graph too)"
            )
    if "streaming" in graphs:
        export_streaming_graph(
            model, out, contract_metadata(state, "streaming", digest, StreamingUNet(model))
        )
    if "window" in graphs:
        export_window_graph(model, window_path, contract_metadata(state, "window", digest))
    if "sequence" in graphs:
        export_sequence_graph(model, sequence_path, contract_metadata(state, "sequence", digest))
    report = ExportReport(out, window_path, sequence_path, written=tuple(graphs))
    config = model.config
    generator = np.random.default_rng(0)
    frames = max(120, config.receptive_field_frames + 40)  # a full window, then 40 more
    random_magnitude = generator.gamma(
        0.5, 4.0, (1, config.audio_channels, config.input_bins, frames)
    )
    report.parity["random input"] = check_parity(
        model, out, window_path, random_magnitude.astype(np.float32), sequence_path=sequence_path
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
            model, out, window_path, magnitude.astype(np.float32), sequence_path=sequence_path
        )
    return report
