"""The causal U-Net: causality, exact receptive field, look-ahead, mask range; torch STFT."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch")

from unsing.errors import ConfigError  # noqa: E402
from unsing.models import spectral  # noqa: E402
from unsing.models.recipe import load_recipe  # noqa: E402
from unsing.models.train import unet_config  # noqa: E402
from unsing.models.unet import CausalUNet, UNetConfig  # noqa: E402
from unsing.stft import StftSpec, stft  # noqa: E402

SMALL = UNetConfig(widths=(4, 4, 6, 8), tcn_channels=16, tcn_dilations=(1, 2, 4))


def eval_model(config: UNetConfig) -> CausalUNet:
    torch.manual_seed(0)
    model = CausalUNet(config).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


def changed_output_frames(
    model: CausalUNet, frame: int, frames: int = 80, layer: torch.nn.Module | None = None
) -> np.ndarray:
    """Output frames whose mask logits (those ``layer`` outputs, default the head) change when
    input ``frame`` changes (float64 logits: a saturated sigmoid would hide small changes)."""
    model = model.double()
    logits = []
    layer = model.head if layer is None else layer
    hook = layer.register_forward_hook(lambda _m, _i, output: logits.append(output))
    torch.manual_seed(1)
    magnitude = torch.rand(1, 2, 513, frames, dtype=torch.float64) * 5
    poked = magnitude.clone()
    poked[..., frame] += 3.0
    with torch.no_grad():
        model.mask(magnitude)
        model.mask(poked)
    hook.remove()
    lookahead = model.config.lookahead_frames
    difference = (logits[0] - logits[1]).abs().amax(dim=(0, 1, 2))[lookahead:]
    return np.nonzero(difference.numpy() > 0.0)[0]  # outside the field: exactly equal


def test_mask_shape_and_range() -> None:
    model = eval_model(SMALL)
    with torch.no_grad():
        mask = model.mask(torch.rand(3, 2, 513, 17) * 100)
    assert mask.shape == (3, 2, 513, 17)
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
    assert torch.equal(mask[:, :, -1], mask[:, :, -2])  # Nyquist reuses the bin below


def test_causal_with_exactly_the_declared_receptive_field() -> None:
    model = eval_model(SMALL)
    rf = SMALL.receptive_field_frames
    assert rf == 2 * (1 + 2 * 4) + 2 * (1 + 2 + 4) + 1 == 33
    changed = changed_output_frames(model, frame=20)
    assert changed.min() == 20, "no output before the changed frame may change"
    assert changed.max() == 20 + rf - 1, "the change must reach exactly rf - 1 frames later"


@pytest.mark.parametrize("lookahead", [1, 3])
def test_lookahead_sees_exactly_that_many_future_frames(lookahead: int) -> None:
    config = UNetConfig(
        widths=SMALL.widths, tcn_channels=16, tcn_dilations=(1, 2, 4), lookahead_frames=lookahead
    )
    model = eval_model(config)
    changed = changed_output_frames(model, frame=40)
    assert changed.min() == 40 - lookahead
    assert changed.max() == 40 + config.context_frames - 1
    assert config.context_frames + lookahead == config.receptive_field_frames


def test_the_recipes_architecture_sets_the_context() -> None:
    # the U-Net that `unsing train` makes from the shipped recipe sees 81 frames (the shipped
    # model, U-Net and long-window band, 143: its file's contract); the context is no key
    assert unet_config(load_recipe()).context_frames == 81
    wider = load_recipe(overrides=["train.tcn_dilations=[1,2,4,8,16,2]"])
    assert unet_config(wider).context_frames == 85
    ahead = unet_config(load_recipe(overrides=["model.lookahead_frames=4"]))
    assert (ahead.context_frames, ahead.lookahead_frames) == (77, 4)
    with pytest.raises(ConfigError, match=r"unknown key 'model\.context_frames'"):
        load_recipe(overrides=["model.context_frames=81"])


def test_config_round_trip() -> None:
    assert UNetConfig.from_dict(SMALL.as_dict()) == SMALL
    with pytest.raises(ValueError, match="power of two"):
        UNetConfig(bins=500)


@pytest.mark.parametrize("spec", [StftSpec(1024, 256), StftSpec(512, 256, "sqrt_hann")])
def test_torch_stft_equals_the_numpy_definition(music_like_signal, spec: StftSpec) -> None:
    signal = music_like_signal[:, :20000]
    ours = spectral.stft(torch.from_numpy(signal), spec).numpy()
    np.testing.assert_allclose(ours, stft(signal, spec), rtol=0, atol=1e-9)
    restored = spectral.istft(torch.from_numpy(stft(signal, spec)), spec, signal.shape[-1])
    np.testing.assert_allclose(restored.numpy(), signal, rtol=0, atol=1e-10)


@pytest.mark.parametrize("lookahead", [0, 2])
def test_streaming_frame_by_frame_equals_the_whole_sequence(lookahead: int) -> None:
    """The stateful form (one new frame per call, cached past activations) computes exactly
    the mask of the whole-sequence forward."""
    from unsing.models.unet import StreamingUNet

    config = UNetConfig(
        widths=SMALL.widths, tcn_channels=16, tcn_dilations=(1, 2, 4), lookahead_frames=lookahead
    )
    model = eval_model(config)
    streaming = StreamingUNet(model)
    assert len(streaming.stateful) == 1 + 2 * 4 + 3  # stem, two convs per level, TCN
    torch.manual_seed(3)
    magnitude = torch.rand(2, 2, 513, 60) * 4
    with torch.no_grad():
        whole = model(magnitude)
        states = streaming.initial_states(batch=2)
        assert [tuple(s.shape) for s in states] == streaming.state_shapes(batch=2)
        frames = []
        for t in range(magnitude.shape[-1]):
            mask, *states = streaming(magnitude[..., t : t + 1], *states)
            frames.append(mask)
    torch.testing.assert_close(torch.cat(frames, dim=-1), whole, rtol=0, atol=1e-5)
    # with look-ahead L, the mask after pushing frame t belongs to frame t - L
    aligned = model.mask(magnitude)[..., : magnitude.shape[-1] - lookahead]
    torch.testing.assert_close(
        torch.cat(frames, dim=-1)[..., lookahead:], aligned, rtol=0, atol=1e-5
    )
    for conv in streaming.stateful:  # streaming mode leaves no state behind
        assert conv.stream_state is None and conv.stream_state_out is None


LOW_BAND = UNetConfig(
    widths=SMALL.widths,
    tcn_channels=16,
    tcn_dilations=(1, 2, 4),
    low_band_bins=7,
    low_band_channels=8,
    low_band_dilations=(1, 2, 4),
)


def test_a_fresh_low_band_network_changes_nothing_and_old_weights_load() -> None:
    from unsing.models.transfer import transfer_state

    plain = eval_model(SMALL)
    model = CausalUNet(LOW_BAND).eval()
    record = transfer_state(plain.state_dict(), SMALL, model)
    assert record["fresh"] and all(name.startswith("low_band.") for name in record["fresh"])
    magnitude = torch.rand(1, 2, 513, 30) * 4
    with torch.no_grad():
        torch.testing.assert_close(model.mask(magnitude), plain.mask(magnitude), rtol=0, atol=0)
    assert "low_band_bins" not in SMALL.as_dict()  # old descriptions unchanged
    assert UNetConfig.from_dict(LOW_BAND.as_dict()) == LOW_BAND


def test_the_low_band_network_moves_only_its_bins_and_streams_exactly() -> None:
    from unsing.models.unet import StreamingUNet

    model = eval_model(LOW_BAND)
    torch.manual_seed(4)
    magnitude = torch.rand(1, 2, 513, 50) * 4
    with torch.no_grad():
        before = model(magnitude)
        torch.nn.init.normal_(model.low_band.out.weight, std=0.5)
        after = model(magnitude)
        moved = (after - before).abs().amax(dim=(0, 1, 3))
        assert float(moved[:7].min()) > 0 and float(moved[7:].max()) == 0.0
        streaming = StreamingUNet(model)
        states = streaming.initial_states()
        frames = []
        for t in range(magnitude.shape[-1]):
            mask, *states = streaming(magnitude[..., t : t + 1], *states)
            frames.append(mask)
    torch.testing.assert_close(torch.cat(frames, dim=-1), after, rtol=0, atol=1e-5)


def test_the_low_band_network_stays_causal_within_the_receptive_field() -> None:
    model = eval_model(LOW_BAND)
    with torch.no_grad():
        torch.nn.init.normal_(model.low_band.out.weight, std=0.5)
    assert LOW_BAND.receptive_field_frames == SMALL.receptive_field_frames
    changed = changed_output_frames(model, frame=20, layer=model.low_band)
    past = 2 * (1 + 2 + 4)  # time kernel 3, dilations 1, 2, 4
    assert changed.min() == 20 and changed.max() == 20 + past


def test_a_low_band_network_wider_than_the_unet_in_time_is_refused() -> None:
    with pytest.raises(ValueError, match="low band"):
        UNetConfig(
            widths=SMALL.widths, tcn_dilations=(1,), low_band_bins=7, low_band_dilations=(8, 16)
        )


def test_the_only_low_band_mode_is_add_and_old_descriptions_naming_it_load() -> None:
    """Descriptions written while a ``replace`` mode existed name ``low_band_mode: add``: they
    load as the same architecture. ``replace`` (an experiment that did not ship) is refused."""
    described = {**LOW_BAND.as_dict(), "low_band_mode": "add"}
    assert "low_band_mode" not in LOW_BAND.as_dict()
    assert UNetConfig.from_dict(described) == LOW_BAND
    with pytest.raises(ValueError, match="low_band_mode 'replace'"):
        UNetConfig.from_dict({**described, "low_band_mode": "replace"})
