"""Keep the native audio libraries' chatter off the terminal.

ALSA, JACK and PortAudio print diagnostics straight to file descriptor 2 while PortAudio starts
or a MIDI client is created: ``ALSA lib seq_hw.c:466:(snd_seq_hw_open) open /dev/snd/seq
failed``, ``Cannot connect to server socket``, ``jack server is not running``. They come before
unsing's own one-line message and say nothing the message does not. :func:`quiet_native_stderr`
sends fd 2 to a temporary file for the duration of such a call, then writes back every line
that is not known library noise (in order), so nothing else is lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: Lines the audio libraries print on their own while probing (matched at the line start).
NOISE = re.compile(
    r"^(ALSA lib |Cannot connect to server|jack server is not running|"
    r"JackShmReadWritePtr|Cannot read socket fd|Expression '.*' failed in 'src/hostapi/|"
    r"connect\(2\) call to /dev/shm/jack|attempt to connect to server failed|"
    r"Cannot open .* socket|Jack: |jack_client_new: deprecated)"
)


def is_noise(line: str) -> bool:
    """Is ``line`` one of the libraries' known probe messages?"""
    return bool(NOISE.match(line.strip()))


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence the known library noise written to fd 2 inside the block; other lines are
    written back to stderr afterwards. A no-op where fd 2 cannot be duplicated."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
