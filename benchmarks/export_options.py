"""Export options that matter for speed, each measured:
``python -m unsing.benchmarks.export_options`` (a part of ``python -m unsing.benchmarks``).

For the streaming graph of a model it writes and measures these variants:

* ``fp32``: the exported graph as it is;
* ``fp32-optimized``: onnxruntime's extended graph optimisations applied once and saved into
  the file (so every load skips them);
* ``int8-dynamic``: weights quantised to int8, activations quantised on the fly;
* ``int8-static``: weights and activations int8, activation ranges calibrated on real frames.

Each variant is timed per hop with 1 and 2 intra-op threads (p50/p99 in ms), and its separation
quality is measured on validation material as the SDR change against ``fp32`` (the same mixture,
the same streaming path). Results go to JSON; nothing is assumed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from unsing.config import Config, load_config
from unsing.long_band import hybrid_vocals, model_input
from unsing.models.data import ValidationItem, build_validation_set
from unsing.models.metrics import sdr_db
from unsing.realtime.onnx_model import OnnxMaskModel, measure_per_hop_ms
from unsing.stft import StftSpec, istft, stft


def _copy_metadata(source: Path, target: Path) -> None:
    """Quantisation drops ``metadata_props``: copy the contract back."""
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
    model = onnx.load(str(target))
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, str(target))


def save_optimized(source: Path, target: Path) -> Path:
    """Apply onnxruntime's extended graph optimisations and save the result."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    _copy_metadata(source, target)
    return target


def quantize_dynamic(source: Path, target: Path) -> Path:
    """int8 weights, dynamic activation quantisation."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    ort_quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    _copy_metadata(source, target)
    return target


class _FrameReader:
    """Calibration feeds for the streaming graph: real frames with the states fp32 produces."""

    def __init__(self, model: OnnxMaskModel, magnitudes: np.ndarray) -> None:
        self.feeds: list[dict[str, np.ndarray]] = []
        model.reset()
        for frame in magnitudes:
            feed = {"frame": frame[None, :, :, None].astype(np.float32), **model.state_feed()}
            self.feeds.append(feed)
            model(frame)
        self._iterator: Iterator[dict[str, np.ndarray]] = iter(self.feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iterator, None)

    def rewind(self) -> None:
        self._iterator = iter(self.feeds)


def quantize_static(source: Path, target: Path, config: Config, calibration: np.ndarray) -> Path:
    """int8 weights and activations, ranges calibrated on ``calibration`` frames
    ``(frames, channels, bins)``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    reader = _FrameReader(OnnxMaskModel(config, source), calibration)
    ort_quantize_static(
        str(source),
        str(target),
        reader,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    _copy_metadata(source, target)
    return target


def separate_streaming(
    model: OnnxMaskModel, mixture: np.ndarray, spec: StftSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Causal separation frame by frame through ``model``: ``(channels, samples)`` each."""
    signal = mixture.astype(np.float64)
    spectrum = stft(signal, spec)  # (channels, bins, frames)
    layout = model.long_band  # a long band's inputs follow the STFT's bins
    long_spectrum = stft(signal, layout.spec) if layout is not None else None
    magnitude = model_input(spectrum, long_spectrum, layout).astype(np.float32)
    model.reset()
    masks = np.stack([model(magnitude[..., t]).copy() for t in range(magnitude.shape[-1])], -1)
    lookahead = int(model.metadata["unsing.lookahead_frames"])
    if lookahead:  # the mask after frame t belongs to frame t - lookahead
        masks = np.concatenate(
            [masks[..., lookahead:], np.repeat(masks[..., -1:], lookahead, axis=-1)], axis=-1
        )
    if layout is not None:
        vocals = hybrid_vocals(signal, spectrum, long_spectrum, masks, layout)
    else:
        vocals = istft(masks * spectrum, spec, mixture.shape[-1])
    return vocals.astype(np.float32), (mixture - vocals).astype(np.float32)


def measure(
    config: Config, model_path: Path, items: list[ValidationItem], work_dir: Path, hops: int = 2000
) -> dict[str, Any]:
    """Write every variant of ``model_path`` into ``work_dir`` and measure it with ``config``'s
    engine settings; returns the JSON-able report."""
    config = config.with_model(model_path)
    spec = config.contract.stft
    calibration_item = max(items, key=lambda item: item.vocals.shape[-1])
    excerpt = calibration_item.mixture[:, : 20 * spec.hop_samples * 43].astype(np.float64)
    layout = OnnxMaskModel(config, model_path).long_band
    calibration = model_input(
        stft(excerpt, spec), stft(excerpt, layout.spec) if layout is not None else None, layout
    )
    calibration = calibration.transpose(2, 0, 1)[::4].astype(np.float32)  # every 4th frame
    work_dir.mkdir(parents=True, exist_ok=True)
    variants = {
        "fp32": model_path,
        "fp32-optimized": save_optimized(model_path, work_dir / "fp32-optimized.onnx"),
        "int8-dynamic": quantize_dynamic(model_path, work_dir / "int8-dynamic.onnx"),
        "int8-static": quantize_static(
            model_path, work_dir / "int8-static.onnx", config, calibration
        ),
    }
    results: dict[str, Any] = {}
    reference_sdr: dict[str, list[float]] = {}
    for name, path in variants.items():
        entry: dict[str, Any] = {"size_bytes": path.stat().st_size, "per_hop_ms": {}}
        for threads in (1, 2):
            model_settings = dataclasses.replace(config.model, intra_op_threads=threads)
            threaded = dataclasses.replace(config, model=model_settings)
            entry["per_hop_ms"][f"{threads}_thread"] = measure_per_hop_ms(
                OnnxMaskModel(threaded, path), hops
            )
        model = OnnxMaskModel(config, path)
        scores: dict[str, list[float]] = {"vocals": [], "accompaniment": []}
        for item in items:
            vocals, accompaniment = separate_streaming(model, item.mixture, spec)
            scores["vocals"].append(sdr_db(item.vocals, vocals))
            scores["accompaniment"].append(sdr_db(item.accompaniment, accompaniment))
        if name == "fp32":
            reference_sdr = scores
        entry["sdr_db_median"] = {stem: round(float(np.median(v)), 3) for stem, v in scores.items()}
        entry["sdr_change_vs_fp32_db"] = {
            stem: round(float(np.median(np.subtract(v, reference_sdr[stem]))), 3)
            for stem, v in scores.items()
        }
        results[name] = entry
    return {
        "metadata": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": platform.platform(),
            "processor": platform.processor(),
            "model": str(model_path),
            "hops": hops,
            "items": [f"{i.set_name}/{i.name}" for i in items],
            "sdr": "10 log10 |s|^2/|s - s_hat|^2 per item, median over items",
        },
        "variants": results,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(
        prog="python -m unsing.benchmarks.export_options",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, default=None, help="streaming graph (model.path)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/export_options.json"))
    parser.add_argument("--work-dir", type=Path, default=Path("runs/export-options"))
    parser.add_argument("--mir1k-clips", type=int, default=8)
    parser.add_argument("--data-root", type=Path, default=None, help="the shared/data folder")
    parser.add_argument("--hops", type=int, default=2000)
    args = parser.parse_args(argv)
    from unsing.models.quality import default_data_root

    config = load_config()
    if args.model is not None:
        config = config.with_model(args.model)
    items = build_validation_set(
        args.data_root or default_data_root(),
        config.contract.sample_rate_hz,
        mir1k_clips=args.mir1k_clips,
        eif_seconds=30.0,
    )
    report = measure(config, config.model.path, items, args.work_dir, args.hops)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, entry in report["variants"].items():
        cost = entry["per_hop_ms"]
        print(
            f"{name:<15} {entry['size_bytes'] / 1e6:5.2f} MB  per hop p50/p99 ms: 1 thread "
            f"{cost['1_thread']['p50']:.3f}/{cost['1_thread']['p99']:.3f}, 2 threads "
            f"{cost['2_thread']['p50']:.3f}/{cost['2_thread']['p99']:.3f}  SDR change vs "
            f"fp32: vocals {entry['sdr_change_vs_fp32_db']['vocals']:+.2f} dB, "
            f"accompaniment {entry['sdr_change_vs_fp32_db']['accompaniment']:+.2f} dB"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
