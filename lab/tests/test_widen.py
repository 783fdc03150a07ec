"""Widening a U-Net in place (lab/widen.py): the wider model starts with the old one's mask."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from lab.widen import widen_state  # noqa: E402
from unsing.models.unet import CausalUNet, UNetConfig  # noqa: E402

OLD = UNetConfig(
    bins=65,
    widths=(4, 6, 8, 10),
    tcn_channels=12,
    tcn_dilations=(1, 2),
    low_band_bins=4,
    low_band_input_bins=8,
    low_band_channels=6,
    low_band_dilations=(1, 2),
)


def trained(config: UNetConfig) -> CausalUNet:
    """A model whose weights and batch-norm statistics are all non-trivial."""
    torch.manual_seed(1)
    model = CausalUNet(config)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if "num_batches" in name:
                continue
            if "running_var" in name:
                tensor.uniform_(0.5, 2.0)
            else:
                tensor.add_(0.3 * torch.randn_like(tensor))
    return model


@pytest.mark.parametrize(
    "changes",
    [
        {"widths": (8, 12, 16, 20)},
        {"widths": (5, 6, 9, 10)},
        {"tcn_channels": 20},
        {"tcn_dilations": (1, 2, 4, 8)},
        {"widths": (8, 12, 16, 20), "tcn_channels": 24, "tcn_dilations": (1, 2, 4)},
    ],
)
def test_widened_model_computes_the_same_mask(changes: dict) -> None:
    old_model = trained(OLD)
    new_config = replace(OLD, **changes)
    new_model = CausalUNet(new_config)
    new_model.load_state_dict(widen_state(old_model.state_dict(), OLD, new_config, seed=3))
    magnitude = torch.rand(3, 2, 65, 40) * 4
    for training in (False, True):  # running statistics, then batch statistics
        old_model.train(training)
        new_model.train(training)
        with torch.no_grad():
            torch.testing.assert_close(new_model(magnitude), old_model(magnitude))
    assert sum(p.numel() for p in new_model.parameters()) > sum(
        p.numel() for p in old_model.parameters()
    )


def test_new_channels_learn() -> None:
    """After one optimiser step the new channels change the mask (no dead, symmetric units)."""
    old_model = trained(OLD)
    new_config = replace(OLD, widths=(8, 12, 16, 20))
    new_model = CausalUNet(new_config)
    new_model.load_state_dict(widen_state(old_model.state_dict(), OLD, new_config))
    magnitude = torch.rand(2, 2, 65, 30) * 4
    target = torch.rand(2, 2, 65, 30)
    optimiser = torch.optim.SGD(new_model.parameters(), lr=0.1)
    for _ in range(2):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(new_model(magnitude), target).backward()
        optimiser.step()
    head = new_model.state_dict()["head.weight"]
    assert head[:, 4:].abs().sum() > 0  # the head now reads the new first-level channels
    stem = new_model.state_dict()["stem.0.conv.weight"]
    new_rows = stem[4:].reshape(4, -1)
    assert torch.linalg.matrix_rank(new_rows) == 4  # distinct new units


def test_refuses_narrower_or_other_shapes() -> None:
    state = trained(OLD).state_dict()
    with pytest.raises(ValueError, match="widths"):
        widen_state(state, OLD, replace(OLD, widths=(4, 6, 8, 9)))
    with pytest.raises(ValueError, match="tcn_dilations"):
        widen_state(state, OLD, replace(OLD, tcn_dilations=(2, 4)))
