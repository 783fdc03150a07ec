"""A music loop played into a stream's JACK input from its own process, as a sound card would.

The benchmarks used to run this JACK client inside the process under test. Its process callback
is Python: every JACK cycle it needed the interpreter lock, which the engine's model thread and
status code also take, so the whole JACK graph (player, then the stream) could wait on a lock
that no real input device takes. Out of process it competes for the CPU only.

Parent side: :class:`LoopPlayerProcess`. Child side (started by it)::

    python -m unsing.benchmarks.loop_player SONG --name CLIENT

reads commands on stdin, one per line, and answers each on stdout after ``ANSWER`` (libjack
writes its own lines there when the server is verbose): ``reset`` (zero the server xrun count;
answers ``ok``), ``xruns`` (the count since the last reset). End of input stops it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from unsing.benchmarks.jack_io import patch_stream
from unsing.benchmarks.machine import all_cores

PLAYER_NAME = "unsing-bench-player"
#: what starts the child's protocol lines on its stdout
ANSWER = "unsing-loop-player: "


class LoopPlayer:
    """A JACK client that plays ``music`` ``(2, samples)`` in a loop and counts server xruns."""

    def __init__(self, jack: Any, music: np.ndarray, name: str = PLAYER_NAME) -> None:
        self.client = jack.Client(name, no_start_server=True)
        self.outs = [self.client.outports.register(f"out_{c}") for c in range(2)]
        self.music = music
        self.position = 0
        self.xruns = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)

    def _xrun(self, delay_us: float) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        length = self.music.shape[1]
        start = self.position
        stop = start + frames
        for c, port in enumerate(self.outs):
            buffer = port.get_array()
            if stop <= length:
                buffer[:] = self.music[c, start:stop]
            else:
                head = length - start
                buffer[:head] = self.music[c, start:]
                buffer[head:] = self.music[c, : frames - head]
        self.position = stop % length


class LoopPlayerProcess:
    """:class:`LoopPlayer` in a child process; this side connects it and reads its counts.

    ``client`` is a JACK client of this process without a process callback (it only queries
    ports and connects them). Use as a context manager; the child runs on every core."""

    def __init__(self, jack: Any, song: Path, name: str = PLAYER_NAME) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "unsing.benchmarks.loop_player", str(song), "--name", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=all_cores,
        )
        try:
            self._answer()
        except RuntimeError:
            self.process.kill()
            self.process.wait()
            raise
        self.client = jack.Client(f"{name}-patch", no_start_server=True)
        self.outs = [f"{name}:out_{c}" for c in range(2)]

    def _answer(self) -> str:
        for line in self.process.stdout:
            if line.startswith(ANSWER):
                return line[len(ANSWER) :].strip()
        raise RuntimeError(f"the loop player stopped (exit {self.process.wait()})")

    def _ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def feed(self, ports_before: set[str]) -> None:
        """Connect the player to the new stream's input ports (replacing the dummy capture)."""
        patch_stream(self.client, self.outs, None, ports_before, "unsing-bench")

    def reset_xruns(self) -> None:
        self._ask("reset")

    @property
    def xruns(self) -> int:
        """Xruns the JACK server reported since the last reset."""
        return int(self._ask("xruns"))

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LoopPlayerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """The child: play ``song`` in a loop until stdin ends."""
    parser = argparse.ArgumentParser(prog="python -m unsing.benchmarks.loop_player")
    parser.add_argument("song", type=Path)
    parser.add_argument("--name", default=PLAYER_NAME)
    args = parser.parse_args(argv)
    import jack
    import soundfile

    music = soundfile.read(args.song, dtype="float32", always_2d=True)[0].T.copy()
    player = LoopPlayer(jack, music, args.name)
    with player.client:
        print(f"{ANSWER}ready", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                player.xruns = 0
                print(f"{ANSWER}ok", flush=True)
            elif command == "xruns":
                print(f"{ANSWER}{player.xruns}", flush=True)
            else:
                print(f"{ANSWER}unknown command {command!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
