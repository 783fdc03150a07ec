"""The ONNX mask model as the live engine runs it: one frame of magnitudes in, one mask out.

Loads ``model.path`` (the streaming graph) or its ``.window.onnx`` twin (``model.graph``),
checks the contract in the file's metadata against the configuration, and keeps everything the
hot path touches preallocated: the streaming states (swapped, never copied) or two windows of
past frames (used in turn), all read and written in place through IO bindings. onnxruntime
runs with the configured intra/inter-op threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from unsing.config import Config
from unsing.errors import ModelFileError
from unsing.realtime.model_graph import (
    check_graph_contract,
    check_graph_io,
    graph_bins,
    long_band_layout,
    metadata_int,
    metadata_json,
    open_session,
)


def window_graph_path(streaming_path: Path) -> Path:
    """``name.onnx`` -> ``name.window.onnx`` (where ``unsing export`` writes the window graph)."""
    return streaming_path.with_name(streaming_path.stem + ".window.onnx")


class OnnxMaskModel:
    """``mask = model(magnitude_frame)``: ``(channels, input_bins)`` float32 in,
    ``(channels, output_bins)`` out (both the STFT's ``bins`` unless the model has a long-window
    band, :attr:`long_band`: then its input magnitudes and its mask follow the STFT's bins).

    With ``lookahead_frames = L`` the mask returned for the frame pushed at hop ``t`` is the mask
    of frame ``t - L`` (the engine delays the spectrum to match).
    """

    def __init__(self, config: Config, path: Path | None = None) -> None:
        import onnxruntime

        streaming_path = Path(path) if path is not None else config.model.path
        self.graph = config.model.graph
        self.path = (
            streaming_path if self.graph == "streaming" else window_graph_path(streaming_path)
        )
        if not self.path.is_file():
            raise ModelFileError(
                f"{self.path}: model file not found (model.path, model.graph = "
                f"{self.graph}); export one with `unsing export`"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.model.intra_op_threads
        options.inter_op_num_threads = config.model.inter_op_threads
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # denormal activations (a fading tail) would slow every hop down; flush them
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        self.session = open_session(self.path, options)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self._check_contract(config)
        self.channels = config.contract.channels
        self.bins = config.contract.stft.bins
        self.long_band = long_band_layout(self.metadata, config.contract.stft, self.path)
        self.input_bins, self.output_bins = graph_bins(
            self.metadata, self.bins, self.long_band, self.path
        )
        self.window_frames = metadata_int(self.metadata, "unsing.window_frames", self.path)
        if self.graph == "streaming":
            names, shapes = self._state_layout()
            self._state_names = names
            # Two preallocated state sets and two IO bindings, (a -> b) and (b -> a), used in
            # turn: onnxruntime reads and writes these buffers directly, nothing is allocated.
            self._state_sets = tuple(
                [np.zeros(shape, np.float32) for shape in shapes] for _ in range(2)
            )
            self._frame = np.zeros((1, self.channels, self.input_bins, 1), np.float32)
            self._mask_out = np.zeros((1, self.channels, self.output_bins, 1), np.float32)
            self._check_io(dict(zip(names, shapes, strict=True)))
            self._bindings = (self._bind_states(0, 1), self._bind_states(1, 0))
            self._parity = 0
        else:
            self._check_io({})
            # Two contiguous windows used in turn: each hop shifts one into the other by a
            # frame and appends the new one, and a binding per window has onnxruntime read it
            # in place (a strided view would be copied, ~0.9 MB, on every run).
            self._windows = tuple(
                np.zeros((1, self.channels, self.input_bins, self.window_frames), np.float32)
                for _ in range(2)
            )
            self._mask_out = np.zeros((1, self.channels, self.output_bins, 1), np.float32)
            self._bindings = tuple(
                self._bind({"magnitude": window}, [self._mask_out]) for window in self._windows
            )
            self._parity = 0
        self._mask = np.zeros((self.channels, self.output_bins), np.float32)

    def _state_layout(self) -> tuple[list[str], list[tuple[int, ...]]]:
        """The streaming graph's state names and shapes from its contract, checked."""
        names = metadata_json(self.metadata, "unsing.state_names", self.path)
        shapes = metadata_json(self.metadata, "unsing.state_shapes", self.path)
        valid = (
            isinstance(names, list)
            and isinstance(shapes, list)
            and len(names) == len(shapes)
            and all(isinstance(name, str) for name in names)
            and all(
                isinstance(shape, list)
                and shape
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)
                for shape in shapes
            )
        )
        if not valid:
            raise ModelFileError(
                f"{self.path}: the model contract's unsing.state_names / unsing.state_shapes "
                "are not a list of names and one shape of positive sizes per name; re-export it"
            )
        return names, [tuple(shape) for shape in shapes]

    def _check_io(self, states: dict[str, tuple[int, ...]]) -> None:
        """The graph's inputs and outputs must be those its contract describes."""
        mask = (1, self.channels, self.output_bins, 1)
        if self.graph == "streaming":
            inputs = {"frame": (1, self.channels, self.input_bins, 1), **states}
            outputs = [(None, mask), *((None, shape) for shape in states.values())]
        else:
            inputs = {"magnitude": (1, self.channels, self.input_bins, self.window_frames)}
            outputs = [(None, mask)]
        check_graph_io(self.session, self.path, inputs, outputs)

    def _bind(self, inputs: dict[str, np.ndarray], outputs: list[np.ndarray]) -> Any:
        """An IO binding: onnxruntime reads ``inputs`` (by name) and writes the graph's outputs,
        in order, into ``outputs``, all in place."""
        binding = self.session.io_binding()
        for name, array in inputs.items():
            binding.bind_cpu_input(name, array)
        names = [output.name for output in self.session.get_outputs()]
        for name, array in zip(names, outputs, strict=True):
            binding.bind_output(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
        return binding

    def _bind_states(self, source: int, target: int) -> Any:
        """The streaming graph's binding reading state set ``source``, writing set ``target``."""
        states = dict(zip(self._state_names, self._state_sets[source], strict=True))
        return self._bind(
            {"frame": self._frame, **states}, [self._mask_out, *self._state_sets[target]]
        )

    def _check_contract(self, config: Config) -> None:
        """This file's contract must be the one the engine was built for (``config.contract``,
        read from ``model.path``): a window graph beside a streaming graph of another model, or
        a model given by path that the engine was not configured for, is refused."""
        check_graph_contract(
            self.metadata,
            self.path,
            self.graph,
            config.contract,
            remedy=f"run it with --model {self.path}",
        )
        needed = "unsing.state_shapes" if self.graph == "streaming" else "unsing.window_frames"
        if needed not in self.metadata or "unsing.window_frames" not in self.metadata:
            raise ModelFileError(f"{self.path}: the model contract lacks {needed}")

    def state_feed(self) -> dict[str, np.ndarray]:
        """Copies of the streaming graph's current states by input name (calibration, tests)."""
        if self.graph != "streaming":
            return {}
        states = self._state_sets[self._parity]
        return {name: state.copy() for name, state in zip(self._state_names, states, strict=True)}

    def reset(self) -> None:
        """Zero the state (start of a stream, after a dropout or bad input)."""
        if self.graph == "streaming":
            for states in self._state_sets:
                for state in states:
                    state.fill(0.0)
        else:
            for window in self._windows:
                window.fill(0.0)
        self._parity = 0

    def skip(self, magnitude: np.ndarray) -> None:
        """Take a frame ``(channels, input_bins)`` without inference (the engine's deadline
        policy).

        The window graph keeps it in its window; the streaming graph's state simply misses it.
        """
        if self.graph != "streaming":
            self._push_window(magnitude)

    def _push_window(self, magnitude: np.ndarray) -> None:
        """Append a frame ``(channels, input_bins)`` to the window graph's input: the other
        window becomes this one shifted by a frame, then the current one."""
        source = self._windows[self._parity]
        self._parity ^= 1
        target = self._windows[self._parity]
        target[..., :-1] = source[..., 1:]
        target[0, :, :, -1] = magnitude

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        """Push one frame ``(channels, input_bins)``; return the mask ``(channels, output_bins)``.

        The returned array is reused by the next call: copy it to keep it.
        """
        if self.graph == "streaming":
            self._frame[0, :, :, 0] = magnitude
            self.session.run_with_iobinding(self._bindings[self._parity])
            self._parity ^= 1
            self._mask[:] = self._mask_out[0, :, :, 0]
            return self._mask
        self._push_window(magnitude)
        self.session.run_with_iobinding(self._bindings[self._parity])
        self._mask[:] = self._mask_out[0, :, :, 0]
        return self._mask

    def describe(self) -> dict[str, Any]:
        """Path, graph and contract, for ``unsing info``."""
        return {"path": str(self.path), "graph": self.graph, "contract": self.metadata}


def measure_per_hop_ms(model: OnnxMaskModel, hops: int = 2000, seed: int = 0) -> dict[str, float]:
    """Time ``hops`` model calls on music-like random magnitudes; percentiles in ms.

    A measurement, not a guarantee: the machine's other load shows up in it.
    """
    import time

    rng = np.random.default_rng(seed)
    frames = rng.gamma(0.5, 4.0, (64, model.channels, model.input_bins)).astype(np.float32)
    model.reset()
    for i in range(50):  # warm-up: allocator, caches
        model(frames[i % 64])
    times = np.empty(hops)
    for i in range(hops):
        start = time.perf_counter()
        model(frames[i % 64])
        times[i] = time.perf_counter() - start
    model.reset()
    milliseconds = 1000.0 * times
    return {
        "hops": hops,
        **{f"p{q:g}": float(np.percentile(milliseconds, q)) for q in (50, 90, 99, 99.9)},
        "max": float(milliseconds.max()),
    }
