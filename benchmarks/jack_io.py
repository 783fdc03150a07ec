"""JACK clients that feed a PortAudio stream and record it, sample-locked to the JACK cycle.

Shared by the JACK benchmarks and the audio tests. All buffers are allocated up front; the
process callbacks only copy.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class ProbeClient:
    """Plays ``signal`` ``(ports, samples)`` into one port per row (2: a song; 3: a song and a
    microphone) and records two ports into ``recording`` ``(2, samples + extra_samples)``,
    starting when ``playing`` is set.

    ``start_frame`` is the JACK frame time of the first recorded sample, so that events timed
    with ``client.frame_time`` can be placed in the recording (:meth:`now_index`).
    """

    def __init__(self, jack: Any, signal: np.ndarray, extra_samples: int, name: str) -> None:
        self.client = jack.Client(name, no_start_server=True)
        self.outs = [self.client.outports.register(f"out_{c}") for c in range(signal.shape[0])]
        self.ins = [self.client.inports.register(f"in_{c}") for c in range(2)]
        self.signal = signal
        self.recording = np.zeros((2, signal.shape[1] + extra_samples), np.float32)
        self.position = 0
        self.start_frame = -1
        self.playing = threading.Event()
        self.done = threading.Event()
        self.client.set_process_callback(self._process)

    def _process(self, frames: int) -> None:
        for port in self.outs:
            port.get_array().fill(0.0)
        if not self.playing.is_set() or self.done.is_set():
            return
        if self.start_frame < 0:
            self.start_frame = self.client.last_frame_time
        start, total = self.position, self.recording.shape[1]
        count = min(frames, total - start)
        played = max(0, min(count, self.signal.shape[1] - start))
        for c, port in enumerate(self.outs):
            port.get_array()[:played] = self.signal[c, start : start + played]
        for c in range(2):
            self.recording[c, start : start + count] = self.ins[c].get_array()[:count]
        self.position = start + count
        if self.position >= total:
            self.done.set()

    def now_index(self) -> int:
        """The recording index of this moment (JACK's frame clock)."""
        return int(self.client.frame_time) - self.start_frame


def new_stream_ports(client: Any, before: set[str], own_prefix: str) -> tuple[list, list]:
    """The audio ports that appeared since ``before`` (a PortAudio stream's), as sorted
    ``(inputs, outputs)`` port names, excluding this process's own clients."""
    ports = [
        p
        for p in client.get_ports(is_audio=True)
        if p.name not in before and not p.name.startswith(own_prefix)
    ]
    return (
        sorted(p.name for p in ports if p.is_input),
        sorted(p.name for p in ports if p.is_output),
    )


def patch_stream(
    client: Any, outs: list, ins: list | None, before: set[str], own_prefix: str
) -> None:
    """Connect ``outs`` to the new stream's inputs (instead of the dummy card's silent capture)
    and, if given, the stream's outputs to ``ins``."""
    stream_ins, stream_outs = new_stream_ports(client, before, own_prefix)
    if len(stream_ins) < len(outs) or (ins is not None and len(stream_outs) < len(ins)):
        raise RuntimeError(f"the stream's JACK ports did not appear: {stream_ins} {stream_outs}")
    for port, target in zip(outs, stream_ins, strict=False):
        for source in client.get_all_connections(target):
            client.disconnect(source, target)
        client.connect(port, target)
    for source, port in zip(stream_outs, ins or [], strict=False):
        client.connect(source, port)
