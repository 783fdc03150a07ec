"""Warm-starting a U-Net across STFT sizes and temporal depths (models/transfer.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

torch = require_module("torch")

from unsing.models.transfer import transfer_state  # noqa: E402
from unsing.models.unet import CausalUNet, UNetConfig  # noqa: E402


def _model(bins: int, dilations: tuple[int, ...] = (1, 2), seed: int = 0) -> CausalUNet:
    torch.manual_seed(seed)
    model = CausalUNet(
        UNetConfig(bins=bins, widths=(2, 3, 3, 4), tcn_channels=6, tcn_dilations=dilations)
    )
    # non-trivial normalisation and biases, so that resampling them is exercised
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name.startswith("input_") or name.endswith("bias"):
                tensor.copy_(torch.randn_like(tensor))
    return model.eval()


def _coarse(model: CausalUNet) -> int:
    return (model.config.bins - 1) // 2 ** len(model.config.widths)


@pytest.mark.parametrize("new_bins", [33, 129, 257])
def test_frequency_independent_weights_copy_and_the_temporal_stack_keeps_its_response(
    new_bins: int,
) -> None:
    source = _model(65)
    target = _model(new_bins, seed=1)
    record = transfer_state(source.state_dict(), source.config, target)
    assert set(record["resampled"]) == {
        "input_scale",
        "input_shift",
        "tcn_in.weight",
        "tcn_out.weight",
        "tcn_out.bias",
    }
    assert record["fresh"] == [] and record["dropped"] == []
    theirs, ours = source.state_dict(), target.state_dict()
    for name in theirs:
        if name not in record["resampled"]:
            torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0)
    # a coarse feature map that is constant along frequency drives the temporal stack as before
    width = source.config.widths[-1]
    frames = 7
    per_channel = torch.randn(1, width, 1, frames)
    for model in (source, target):
        flat = per_channel.expand(1, width, _coarse(model), frames).reshape(1, -1, frames)
        model.response = model.tcn_in(flat)
    torch.testing.assert_close(target.response, source.response, rtol=1e-5, atol=1e-5)
    # ... and its output, broadcast back to bands, follows the source's band profile
    hidden = torch.randn(1, source.config.tcn_channels, frames)
    before = source.tcn_out(hidden).reshape(1, width, _coarse(source), frames)
    after = target.tcn_out(hidden).reshape(1, width, _coarse(target), frames)
    lowest, highest = after[:, :, 0], after[:, :, -1]
    if _coarse(target) > _coarse(source):  # the end bands keep the source's end values
        torch.testing.assert_close(lowest, before[:, :, 0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(highest, before[:, :, -1], rtol=1e-5, atol=1e-5)
    # the learned input normalisation is the same function of frequency
    source_hz = np.arange(64) / 64
    target_hz = np.arange(new_bins - 1) / (new_bins - 1)
    expected = np.interp(target_hz, source_hz, source.input_scale.detach().numpy().ravel())
    np.testing.assert_allclose(target.input_scale.detach().numpy().ravel(), expected, atol=1e-6)
    # and the transferred model runs
    mask = target(torch.rand(1, 2, new_bins, 30))
    assert mask.shape == (1, 2, new_bins, 30) and torch.isfinite(mask).all()


def test_temporal_blocks_are_matched_by_position() -> None:
    source = _model(65, dilations=(1, 2))
    deeper = _model(65, dilations=(1, 2, 4), seed=1)
    record = transfer_state(source.state_dict(), source.config, deeper)
    assert record["resampled"] == [] and record["dropped"] == []
    assert record["fresh"] and all(name.startswith("tcn.2.") for name in record["fresh"])
    torch.testing.assert_close(deeper.tcn[1].mix.weight, source.tcn[1].mix.weight)
    shallower = _model(65, dilations=(1,), seed=2)
    record = transfer_state(source.state_dict(), source.config, shallower)
    assert record["dropped"] and all(name.startswith("tcn.1.") for name in record["dropped"])
    torch.testing.assert_close(shallower.tcn[0].conv.conv.weight, source.tcn[0].conv.conv.weight)


def test_other_widths_are_refused() -> None:
    source = _model(65)
    torch.manual_seed(0)
    wider = CausalUNet(UNetConfig(bins=65, widths=(2, 3, 3, 5), tcn_channels=6))
    with pytest.raises(ValueError, match="widths differs"):
        transfer_state(source.state_dict(), source.config, wider)


def test_fine_tuning_into_another_stft_size_through_train(tmp_path: Path) -> None:
    from test_train import TINY, write_tree

    from unsing.models.recipe import load_recipe
    from unsing.models.train import load_checkpoint, train

    data_root = write_tree(tmp_path / "data")
    common = [*TINY, f"train.data_root={data_root}", f"train.runs_dir={tmp_path / 'runs'}"]
    source_run = train(
        load_recipe(overrides=common), tmp_path / "runs" / "a", quiet=True, max_steps=1
    )
    smaller = load_recipe(overrides=[*common, "model.n_fft=512", "model.hop_samples=128"])
    run = train(
        smaller,
        tmp_path / "runs" / "b",
        quiet=True,
        max_steps=1,
        init_checkpoint=source_run / "last.pt",
    )
    model, state = load_checkpoint(run / "last.pt")
    assert state["contract"]["n_fft"] == 512 and model.config.bins == 257
    record = state["init_checkpoint"]
    assert record["architecture"]["bins"] == 513
    assert "tcn_in.weight" in record["transfer"]["resampled"]
