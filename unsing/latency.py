"""Algorithmic latency of the live engine, from the configuration alone.

A sample entering the engine leaves it ``algorithmic_samples`` later (before the audio device
adds its own buffering):

* ``n_fft``: a frame is complete only when its newest hop has arrived, and overlap-add finishes a
  sample only when the last frame touching it has been added: ``n_fft - hop`` in the sample
  stream, plus one hop of capture before the callback can run;
* ``lookahead_frames * hop``: the model waits for future frames;
* ``griffin_lim_lookahead_frames * hop``: online Griffin-Lim waits for future frames (only with
  ``engine.resynthesis: griffin_lim``);
* ``blocksize - hop``: a callback block holds several hops; the first waits for the last;
* ``key_shift_samples``: Rubber Band's key change (``Config.rubberband_key_shift``), a constant
  :data:`RUBBERBAND_LATENCY_MS` (the engine's own STFT shifter adds none).

``stream_delay_samples`` is the same delay measured between sample indices of the input and
output streams (the duplex callback's one block of capture is not part of it): it is what
``unsing separate`` compensates so stems line up with the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from unsing.config import Config

#: What Rubber Band R3's key change adds, fed hop by hop (realtime/rubberband_shift.py): 3328
#: samples at 44.1 kHz, 13 hops of 256, the most any key needed; other rates scale it.
RUBBERBAND_LATENCY_MS = 3328 / 44.1


def rubberband_latency_samples(sample_rate_hz: int, hop_samples: int) -> int:
    """:data:`RUBBERBAND_LATENCY_MS` at ``sample_rate_hz``, rounded up to whole hops."""
    samples = RUBBERBAND_LATENCY_MS * sample_rate_hz / 1000.0
    return -(-round(samples) // hop_samples) * hop_samples


@dataclass(frozen=True)
class Latency:
    """Latency terms in samples at ``sample_rate_hz``."""

    sample_rate_hz: int
    window_samples: int
    model_lookahead_samples: int
    griffin_lim_lookahead_samples: int
    block_buffering_samples: int
    blocksize_samples: int
    key_shift_samples: int = 0

    @classmethod
    def from_config(cls, config: Config) -> Latency:
        """The latency the configuration implies."""
        hop = config.contract.stft.hop_samples
        griffin_lim = config.engine.resynthesis == "griffin_lim"
        return cls(
            sample_rate_hz=config.contract.sample_rate_hz,
            window_samples=config.contract.stft.n_fft,
            model_lookahead_samples=config.contract.lookahead_frames * hop,
            griffin_lim_lookahead_samples=(
                config.engine.griffin_lim_lookahead_frames * hop if griffin_lim else 0
            ),
            block_buffering_samples=config.audio.blocksize_samples - hop,
            blocksize_samples=config.audio.blocksize_samples,
            key_shift_samples=(
                rubberband_latency_samples(config.contract.sample_rate_hz, hop)
                if config.rubberband_key_shift
                else 0
            ),
        )

    @property
    def algorithmic_samples(self) -> int:
        """Input-to-output latency of the engine in samples, device buffers excluded."""
        return (
            self.window_samples
            + self.model_lookahead_samples
            + self.griffin_lim_lookahead_samples
            + self.block_buffering_samples
            + self.key_shift_samples
        )

    @property
    def stream_delay_samples(self) -> int:
        """Output-stream index minus input-stream index of the same sample."""
        return self.algorithmic_samples - self.blocksize_samples

    def ms(self, samples: int) -> float:
        """``samples`` in milliseconds at this sample rate."""
        return 1000.0 * samples / self.sample_rate_hz

    @property
    def algorithmic_ms(self) -> float:
        """Input-to-output latency of the engine in milliseconds."""
        return self.ms(self.algorithmic_samples)

    def as_dict(self) -> dict[str, float | int]:
        """Every term, the totals, and the totals in ms (for ``unsing info --json``)."""
        terms = asdict(self)
        terms.update(
            algorithmic_samples=self.algorithmic_samples,
            algorithmic_ms=round(self.algorithmic_ms, 3),
            stream_delay_samples=self.stream_delay_samples,
            stream_delay_ms=round(self.ms(self.stream_delay_samples), 3),
        )
        return terms
