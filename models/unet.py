"""A causal spectrogram U-Net that outputs a soft vocal mask per channel.

Input: mixture magnitudes ``(batch, channels, bins, frames)``; output: vocal mask in [0, 1] of the
same shape (accompaniment mask = 1 - vocal mask).

Live-use adaptations of the classic U-Net (blocks of two 3x3 conv + batch norm + LeakyReLU,
encoder/decoder with skip connections, sigmoid mask):

* causal in time: every time convolution is padded on the past side only, so output frame ``t``
  depends on input frames ``<= t``; with ``lookahead_frames = L`` the mask for frame ``t`` is
  the output at frame ``t + L`` (it sees ``L`` future frames);
* downsampling and upsampling only along frequency (strided convolutions, transposed
  convolutions); nothing strides along time;
* the receptive field is finite (``receptive_field_frames``): the window graph and the streaming
  graph (cached past activations, one new frame per hop) compute the same mask;
* input normalisation never looks at the future: ``log1p`` magnitudes with a learned per-bin
  scale and shift; batch norm uses running statistics at inference;
* long memory cheaply: a dilated causal temporal convolution stack (TCN) at the coarsest level,
  where frequency x channels is small;
* the decoder's convolutions are frequency-only (time kernel 1): no extra latency, no state.

The network sees bins ``0 .. bins - 2`` (a power of two for the frequency pooling); the Nyquist
bin reuses the mask of the bin below it.

Optional long-window band (``long_band_analysis_samples > 0``, :class:`LongBandNet`): the input
then also carries the magnitudes of bins ``0 .. long_band_input_bins - 1`` of the long-window
STFT (``unsing.stft.LongWindowSpec``: more frequency resolution at the same latency), appended
after the project STFT's bins, and the output carries that STFT's vocal mask of bins
``0 .. long_band_bins - 1`` after the project STFT's mask. The resynthesis
(``unsing.long_band``) takes the low band from the long-window path and the rest from the
U-Net's mask, split by a crossover.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import InitVar, asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

#: Added to the long band's powers before the log (the input of silence stays finite).
LONG_BAND_POWER_FLOOR = 1e-8


@dataclass(frozen=True)
class UNetConfig:
    """Architecture; recorded in checkpoints and in the exported model's contract."""

    audio_channels: int = 2
    bins: int = 513
    widths: tuple[int, ...] = (8, 16, 24, 32)
    time_kernel: int = 3
    tcn_channels: int = 192
    tcn_dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    lookahead_frames: int = 0
    negative_slope: float = 0.1
    #: Optional low-band network: a dilated causal temporal stack over the normalised input of
    #: bins ``0 .. low_band_input_bins - 1`` whose output is added to the mask's logits of bins
    #: ``0 .. low_band_bins - 1`` (0: none). Three quarters of a mix's energy, and most of the
    #: SDR a mask loses, lie below 300 Hz, where the U-Net has the fewest channels per bin.
    low_band_bins: int = 0
    low_band_input_bins: int = 64
    low_band_channels: int = 128
    low_band_dilations: tuple[int, ...] = (1, 2, 4, 8)
    #: Accepted, not stored: descriptions and callers may name ``add`` (the low band corrects
    #: the U-Net's logits), the only mode there is. ``replace`` (its output *is* those logits)
    #: was an experiment that did not ship (docs/experiments/lowband-replace.md): refused.
    low_band_mode: InitVar[str] = "add"
    #: Optional long-window band (0: none): window length in samples of the long-window STFT,
    #: bins of it the band network reads (log powers) and bins it outputs a mask for, its
    #: crossover to the U-Net's mask (in the long STFT's bins, so without a sample rate: the
    #: long band below the first, the U-Net above the second, a raised cosine between), its
    #: channels and dilations.
    long_band_analysis_samples: int = 0
    long_band_input_bins: int = 0
    long_band_bins: int = 0
    long_band_crossover_bins: tuple[float, float] = (55.727, 69.659)
    long_band_channels: int = 128
    long_band_dilations: tuple[int, ...] = (1, 2, 4, 8)
    #: The long band also reads the U-Net's mask (its logit, interpolated at the long band's
    #: bins), so that it can lean on the U-Net where the long window does not help.
    long_band_unet_input: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self, low_band_mode: str) -> None:
        if low_band_mode != "add":
            raise ValueError(
                f"low_band_mode {low_band_mode!r}: only 'add' exists (the low-band network "
                "corrects the U-Net's logits); 'replace' was an experiment that did not ship"
            )
        net_bins = self.bins - 1
        levels = len(self.widths)
        if net_bins & (net_bins - 1) or net_bins < 2 ** (levels + 1):
            raise ValueError(
                f"bins - 1 = {net_bins} must be a power of two >= "
                f"{2 ** (levels + 1)} for {levels} levels"
            )
        if self.low_band_bins and not (
            self.low_band_bins <= self.low_band_input_bins <= net_bins
            and self._low_band_past_frames <= self._unet_past_frames
        ):
            raise ValueError(
                f"low band: need low_band_bins {self.low_band_bins} <= low_band_input_bins "
                f"{self.low_band_input_bins} <= {net_bins} and its dilations "
                f"{list(self.low_band_dilations)} within the U-Net's "
                f"{self._unet_past_frames} past frames"
            )

        if self.long_band_analysis_samples and not (
            0 < self.long_band_bins <= self.long_band_input_bins
            and self.long_band_input_bins <= self.long_band_analysis_samples // 2 + 1
            and self.lookahead_frames == 0
            and (self.time_kernel - 1) * sum(self.long_band_dilations) <= self._unet_past_frames
            and 0 < self.long_band_crossover_bins[0] < self.long_band_crossover_bins[1]
            and self.long_band_crossover_bins[1] <= self.long_band_bins - 1
        ):
            raise ValueError(
                f"long band: need 0 < long_band_bins {self.long_band_bins} <= "
                f"long_band_input_bins {self.long_band_input_bins} <= the long window's bins, "
                f"lookahead_frames 0 (has {self.lookahead_frames}), its dilations within the "
                f"U-Net's {self._unet_past_frames} past frames and a rising crossover "
                f"{list(self.long_band_crossover_bins)} within its output bins"
            )

    @property
    def input_bins(self) -> int:
        """Bins per input frame: the project STFT's, then the long band's (if any)."""
        return self.bins + (self.long_band_input_bins if self.long_band_analysis_samples else 0)

    @property
    def output_bins(self) -> int:
        """Bins per output mask frame: the project STFT's, then the long band's (if any)."""
        return self.bins + (self.long_band_bins if self.long_band_analysis_samples else 0)

    @property
    def _unet_past_frames(self) -> int:
        past = (self.time_kernel - 1) * (1 + 2 * len(self.widths))  # stem + 2 convs per level
        return past + (self.time_kernel - 1) * sum(self.tcn_dilations)

    @property
    def _low_band_past_frames(self) -> int:
        return (self.time_kernel - 1) * sum(self.low_band_dilations)

    @property
    def receptive_field_frames(self) -> int:
        """Input frames that one output frame depends on (current frame included). The low-band
        and long-band networks' own are never more than the U-Net's, but a long band that reads
        the U-Net's mask reads it over its own past frames: the two add up."""
        past = self._unet_past_frames
        if self.long_band_analysis_samples and self.long_band_unet_input:
            past += (self.time_kernel - 1) * sum(self.long_band_dilations)
        return past + 1

    @property
    def context_frames(self) -> int:
        """Past frames (current included) the mask of a frame depends on."""
        return self.receptive_field_frames - self.lookahead_frames

    def as_dict(self) -> dict:
        """JSON-able description."""
        data = asdict(self)
        data.pop("extra")
        data["widths"] = list(self.widths)
        data["tcn_dilations"] = list(self.tcn_dilations)
        data["low_band_dilations"] = list(self.low_band_dilations)
        data["long_band_crossover_bins"] = list(self.long_band_crossover_bins)
        data["long_band_dilations"] = list(self.long_band_dilations)
        if not self.long_band_analysis_samples:  # models without one keep their description
            for key in [k for k in data if k.startswith("long_band")]:
                data.pop(key)
        if not self.low_band_bins:  # models without one keep their old description
            for key in [k for k in data if k.startswith("low_band")]:
                data.pop(key)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        """Inverse of :meth:`as_dict` (a description naming ``low_band_mode: add`` loads)."""
        values = dict(data)
        values["widths"] = tuple(values["widths"])
        values["tcn_dilations"] = tuple(values["tcn_dilations"])
        for key in ("low_band_dilations", "long_band_dilations", "long_band_crossover_bins"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


class _StreamableConv(nn.Module):
    """A causal conv whose ``time_state_frames`` past input frames come from left zero padding
    (whole sequences) or, in streaming mode, from ``stream_state`` (set by
    :class:`StreamingUNet`), in which case the newest past frames are left in ``stream_state_out``.
    """

    time_state_frames: int
    conv: nn.Module

    def __init__(self) -> None:
        super().__init__()
        self.stream_state: torch.Tensor | None = None
        self.stream_state_out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., time) -> (..., time)`` causal convolution."""
        if self.time_state_frames == 0:
            return self.conv(x)
        if self.stream_state is None:
            return self.conv(F.pad(x, (self.time_state_frames, 0)))
        history = torch.cat([self.stream_state, x], dim=-1)
        self.stream_state_out = history[..., -self.time_state_frames :]
        return self.conv(history)


class CausalConv2d(_StreamableConv):
    """Conv over ``(batch, channels, freq, time)``: centred in frequency, causal in time.

    ``time_state_frames`` past input frames are needed to compute one new output frame: in
    training they come from left zero padding, in the streaming form from a state cache.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        freq_kernel: int = 3,
        time_kernel: int = 3,
        freq_stride: int = 1,
        time_dilation: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.time_state_frames = (time_kernel - 1) * time_dilation
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            (freq_kernel, time_kernel),
            stride=(freq_stride, 1),
            padding=(freq_kernel // 2, 0),
            dilation=(1, time_dilation),
            bias=bias,
        )


class ConvBlock(nn.Module):
    """Two (conv, batch norm, LeakyReLU) layers."""

    def __init__(
        self, in_channels: int, out_channels: int, time_kernel: int, negative_slope: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin in (in_channels, out_channels):
            layers += [
                CausalConv2d(cin, out_channels, 3, time_kernel),
                nn.BatchNorm2d(out_channels),
                nn.LeakyReLU(negative_slope),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in, freq, time) -> (batch, out, freq, time)``."""
        return self.layers(x)


class CausalConv1d(_StreamableConv):
    """Causal dilated conv over ``(batch, channels, time)``."""

    def __init__(self, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.time_state_frames = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, bias=False)


class TemporalBlock(nn.Module):
    """Residual block: dilated causal conv, batch norm, LeakyReLU, 1x1 conv."""

    def __init__(self, channels: int, kernel: int, dilation: int, negative_slope: float) -> None:
        super().__init__()
        self.conv = CausalConv1d(channels, kernel, dilation)
        self.norm = nn.BatchNorm1d(channels)
        self.act = nn.LeakyReLU(negative_slope)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, channels, time) -> (batch, channels, time)``."""
        return x + self.mix(self.act(self.norm(self.conv(x))))


class LowBandNet(nn.Module):
    """Logit corrections for the lowest ``low_band_bins`` bins from a causal temporal stack over
    the normalised input's lowest ``low_band_input_bins`` bins (all channels, full frequency
    resolution). Its output layer starts at zero: added to a trained U-Net it changes nothing
    until trained."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        channels, width = config.audio_channels, config.low_band_channels
        self.project = nn.Conv1d(channels * config.low_band_input_bins, width, 1)
        self.stack = nn.Sequential(
            *[
                TemporalBlock(width, config.time_kernel, d, config.negative_slope)
                for d in config.low_band_dilations
            ]
        )
        self.out = nn.Conv1d(width, channels * config.low_band_bins, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, normalised: torch.Tensor) -> torch.Tensor:
        """``(batch, channels, bins, frames)`` -> ``(batch, channels, low_band_bins, frames)``."""
        batch, channels, _, frames = normalised.shape
        low = normalised[:, :, : self.config.low_band_input_bins]
        x = self.project(low.reshape(batch, -1, frames))
        x = self.out(self.stack(x))
        return x.reshape(batch, channels, self.config.low_band_bins, frames)


class LongBandNet(nn.Module):
    """Vocal mask of the long-window STFT's lowest ``long_band_bins`` bins from a causal
    temporal stack over the log powers of its lowest ``long_band_input_bins`` bins (all
    channels), normalised by a per-bin scale and shift (set from the training data's statistics
    by ``python -m unsing.models.fit_long_band``, then learned)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        channels, width = config.audio_channels, config.long_band_channels
        self.input_scale = nn.Parameter(torch.ones(1, 1, config.long_band_input_bins, 1))
        self.input_shift = nn.Parameter(torch.zeros(1, 1, config.long_band_input_bins, 1))
        inputs = config.long_band_input_bins
        if config.long_band_unet_input:
            inputs += config.long_band_bins
            self.register_buffer("unet_to_long", _interpolation(config), persistent=False)
        self.project = nn.Conv1d(channels * inputs, width, 1)
        self.stack = nn.Sequential(
            *[
                TemporalBlock(width, config.time_kernel, d, config.negative_slope)
                for d in config.long_band_dilations
            ]
        )
        self.out = nn.Conv1d(width, channels * config.long_band_bins, 1)

    def forward(
        self, magnitude: torch.Tensor, unet_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(batch, channels, long_band_input_bins, frames)`` long-window magnitudes (and,
        with ``long_band_unet_input``, the U-Net's mask ``(batch, channels, bins, frames)``) ->
        ``(batch, channels, long_band_bins, frames)`` vocal mask in [0, 1]."""
        features = self.normalise(magnitude)
        if self.config.long_band_unet_input:
            if unet_mask is None:
                raise ValueError("this long band reads the U-Net's mask: pass unet_mask")
            features = torch.cat([features, unet_logits_at_long_bins(self, unet_mask)], 2)
        return self.network(features)

    def normalise(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Long-window magnitudes -> normalised log powers, same shape."""
        normalised = torch.log(magnitude.square() + LONG_BAND_POWER_FLOOR)
        return normalised * self.input_scale + self.input_shift

    def network(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, channels, features, frames)`` (normalised inputs, then the U-Net's
        logits if read) -> ``(batch, channels, long_band_bins, frames)`` mask."""
        batch, channels, _, frames = features.shape
        x = self.project(features.reshape(batch, -1, frames))
        x = self.out(self.stack(x))
        return torch.sigmoid(x.reshape(batch, channels, self.config.long_band_bins, frames))


#: The U-Net's mask enters the long band as logit / UNET_LOGIT_SCALE (about unit range).
UNET_LOGIT_SCALE = 4.0


def _interpolation(config: UNetConfig) -> torch.Tensor:
    """``(long_band_bins, bins)``: linear interpolation of a project-STFT mask at the long
    STFT's bin frequencies (long bin ``k`` lies at project bin ``k * n_fft / analysis``; the
    project STFT's n_fft is ``2 * (bins - 1)``)."""
    ratio = 2 * (config.bins - 1) / config.long_band_analysis_samples
    position = torch.arange(config.long_band_bins, dtype=torch.float64) * ratio
    low = position.floor().long().clamp(max=config.bins - 1)
    high = (low + 1).clamp(max=config.bins - 1)
    weight = position - low
    matrix = torch.zeros(config.long_band_bins, config.bins, dtype=torch.float64)
    rows = torch.arange(config.long_band_bins)
    matrix[rows, low] += 1 - weight
    matrix[rows, high] += weight
    return matrix.float()


def unet_logits_at_long_bins(band: LongBandNet, unet_mask: torch.Tensor) -> torch.Tensor:
    """The U-Net's mask ``(batch, channels, bins, frames)`` as the long band reads it:
    interpolated at its bins, logit, scaled: ``(batch, channels, long_band_bins, frames)``."""
    mask = torch.matmul(band.unet_to_long, unet_mask).clamp(1e-4, 1 - 1e-4)
    return torch.log(mask / (1 - mask)) / UNET_LOGIT_SCALE


class CausalUNet(nn.Module):
    """Magnitudes ``(batch, channels, bins, frames)`` -> vocal mask of the same shape."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        widths, kt, slope = config.widths, config.time_kernel, config.negative_slope
        net_bins = config.bins - 1
        self.input_scale = nn.Parameter(torch.ones(1, 1, net_bins, 1))
        self.input_shift = nn.Parameter(torch.zeros(1, 1, net_bins, 1))
        self.stem = nn.Sequential(
            CausalConv2d(config.audio_channels, widths[0], 3, kt, freq_stride=2),
            nn.BatchNorm2d(widths[0]),
            nn.LeakyReLU(slope),
        )
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for level, width in enumerate(widths):
            self.encoders.append(ConvBlock(width, width, kt, slope))
            if level + 1 < len(widths):
                self.downs.append(
                    nn.Sequential(
                        CausalConv2d(width, widths[level + 1], 3, 1, freq_stride=2),
                        nn.BatchNorm2d(widths[level + 1]),
                        nn.LeakyReLU(slope),
                    )
                )
        coarse_bins = net_bins // 2 ** len(widths)
        coarse_features = widths[-1] * coarse_bins
        self.tcn_in = nn.Conv1d(coarse_features, config.tcn_channels, 1)
        self.tcn = nn.Sequential(
            *[TemporalBlock(config.tcn_channels, kt, d, slope) for d in config.tcn_dilations]
        )
        self.tcn_out = nn.Conv1d(config.tcn_channels, coarse_features, 1)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(len(widths) - 1)):
            self.ups.append(
                nn.ConvTranspose2d(widths[level + 1], widths[level], (2, 1), stride=(2, 1))
            )
            self.decoders.append(ConvBlock(2 * widths[level], widths[level], 1, slope))
        self.head_up = nn.ConvTranspose2d(widths[0], widths[0], (2, 1), stride=(2, 1))
        self.head = nn.Conv2d(widths[0], config.audio_channels, 1)
        self.low_band: LowBandNet | None = LowBandNet(config) if config.low_band_bins else None
        self.long_band: LongBandNet | None = (
            LongBandNet(config) if config.long_band_analysis_samples else None
        )

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Vocal mask for each frame (shifted by the look-ahead, see :meth:`mask`).

        Args:
            magnitude: ``(batch, channels, input_bins, frames)`` non-negative: the project
                STFT's ``bins``, then (long band) the long-window STFT's lowest bins.

        Returns:
            ``(batch, channels, output_bins, frames)`` in [0, 1]; output frame ``t`` depends on
            input frames ``t - receptive_field_frames + 1 .. t``.
        """
        bins = self.config.bins
        long_magnitude = None
        if self.long_band is not None:
            long_magnitude = magnitude[:, :, bins:]
            magnitude = magnitude[:, :, :bins]
        normalised = torch.log1p(magnitude[:, :, :-1]) * self.input_scale + self.input_shift
        x = self.stem(normalised)
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x)
            if level < len(self.downs):
                skips.append(x)
                x = self.downs[level](x)
        batch, width, coarse_bins, frames = x.shape
        flat = x.reshape(batch, width * coarse_bins, frames)
        flat = flat + self.tcn_out(self.tcn(self.tcn_in(flat)))
        x = flat.reshape(batch, width, coarse_bins, frames)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = decoder(torch.cat([up(x), skip], dim=1))
        logits = self.head(self.head_up(x))
        if self.low_band is not None:
            low = self.config.low_band_bins
            band = logits[:, :, :low] + self.low_band(normalised)
            logits = torch.cat([band, logits[:, :, low:]], dim=2)
        mask = torch.sigmoid(logits)
        mask = torch.cat([mask, mask[:, :, -1:]], dim=2)
        if self.long_band is None:
            return mask
        return torch.cat([mask, self.long_band(long_magnitude, mask)], dim=2)

    def mask(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Vocal mask aligned with the input frames, using ``lookahead_frames`` future frames.

        The last ``lookahead_frames`` frames have no future yet: they get the output computed
        with zero-padded future (as at the end of a stream).
        """
        return lookahead_aligned(self, magnitude, self.config.lookahead_frames)


def lookahead_aligned(
    forward: Callable[[torch.Tensor], torch.Tensor], magnitude: torch.Tensor, lookahead: int
) -> torch.Tensor:
    """``forward``'s output shifted so frame ``t`` holds the mask computed with ``lookahead``
    future frames (zero-padded past the end). ``forward`` may wrap the model (e.g. DDP)."""
    if lookahead == 0:
        return forward(magnitude)
    return forward(F.pad(magnitude, (0, lookahead)))[..., lookahead:]


class StreamingUNet(nn.Module):
    """Frame-by-frame evaluation of a :class:`CausalUNet` with explicit state.

    Each causal convolution keeps its last ``time_state_frames`` input frames as a state tensor;
    one call computes one new frame, so a hop costs one frame of compute instead of a window.
    ``forward(frame, *states) -> (mask_frame, *new_states)``: states are graph inputs and
    outputs (the stateful ONNX export), zeros at the start of a stream (:meth:`initial_states`).
    With ``lookahead_frames = L`` the mask returned after pushing frame ``t`` is the mask of
    frame ``t - L``. Shares the weights of ``model`` (eval mode).
    """

    def __init__(self, model: CausalUNet) -> None:
        super().__init__()
        self.model = model
        self.stateful = [
            m for m in model.modules() if isinstance(m, _StreamableConv) and m.time_state_frames > 0
        ]
        self._state_shapes = self._measure_state_shapes()

    def _measure_state_shapes(self) -> list[tuple[int, ...]]:
        """Each stateful conv's input shape for one frame (batch and time dropped)."""
        shapes: dict[int, tuple[int, ...]] = {}

        def recorder(index: int) -> Callable[..., None]:
            def record(module: _StreamableConv, inputs: tuple, _output: torch.Tensor) -> None:
                shapes.setdefault(index, (*inputs[0].shape[1:-1], module.time_state_frames))

            return record

        hooks = [conv.register_forward_hook(recorder(i)) for i, conv in enumerate(self.stateful)]
        was_training = self.model.training
        try:
            config = self.model.config
            with torch.no_grad():
                self.model.eval()  # never touch batch-norm statistics
                self.model(torch.zeros(1, config.audio_channels, config.input_bins, 1))
        finally:
            self.model.train(was_training)
            for hook in hooks:
                hook.remove()
        return [shapes[i] for i in range(len(self.stateful))]

    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        """Shape of each state tensor: ``(batch, channels, [freq,] frames)``."""
        return [(batch, *shape) for shape in self._state_shapes]

    def initial_states(self, batch: int = 1) -> list[torch.Tensor]:
        """All-zero states: the start of a stream (and after a reset)."""
        return [torch.zeros(shape) for shape in self.state_shapes(batch)]

    def forward(self, frame: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame ``(batch, channels, bins, 1)`` and the states -> mask frame, new states."""
        if len(states) != len(self.stateful):
            raise ValueError(f"expected {len(self.stateful)} states, got {len(states)}")
        for conv, state in zip(self.stateful, states, strict=True):
            conv.stream_state = state
        try:
            mask = self.model(frame)
            new_states = tuple(conv.stream_state_out for conv in self.stateful)
        finally:
            for conv in self.stateful:
                conv.stream_state = conv.stream_state_out = None
        return (mask, *new_states)
