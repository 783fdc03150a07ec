"""Weight-space interpolation of a model and its fine-tune (lab/interpolate.py)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from lab.interpolate import interpolate_state, main  # noqa: E402
from unsing.models.unet import CausalUNet, UNetConfig  # noqa: E402

CONFIG = UNetConfig(bins=65, widths=(4, 6, 8, 10), tcn_channels=12, tcn_dilations=(1, 2))


def trained(seed: int) -> CausalUNet:
    """A model whose weights and batch-norm statistics are all non-trivial."""
    torch.manual_seed(seed)
    model = CausalUNet(CONFIG)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if "num_batches" in name:
                tensor.fill_(seed)
            elif "running_var" in name:
                tensor.uniform_(0.5, 2.0)
            else:
                tensor.add_(0.3 * torch.randn_like(tensor))
    return model.eval()


def logits(model: CausalUNet, magnitude: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.logit(model(magnitude).double())


def test_the_ends_are_the_two_models() -> None:
    start, tuned = trained(1).state_dict(), trained(2).state_dict()
    for alpha, expected in ((0.0, start), (1.0, tuned)):
        out = interpolate_state(start, tuned, alpha)
        for key, value in out.items():
            if value.is_floating_point():
                torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
            else:  # counters: the fine-tune's
                assert torch.equal(value, tuned[key])


def test_a_head_only_fine_tune_interpolates_the_logits() -> None:
    """Where the two differ only in the 1x1 head, the interpolated model's logits are the same
    interpolation of the two models' logits (the head is linear): function space = weight
    space, checked through the whole network."""
    start = trained(1)
    tuned = trained(1)
    with torch.no_grad():  # moderate logits, so that float32's sigmoid does not saturate
        for model in (start, tuned):
            model.head.weight.mul_(0.02)
        tuned.head.weight.mul_(1.7)
        tuned.head.bias.add_(0.4)
    magnitude = torch.rand(2, 2, 65, 30) * 4
    expected = 0.7 * logits(start, magnitude) + 0.3 * logits(tuned, magnitude)
    mixed = CausalUNet(CONFIG).eval()
    mixed.load_state_dict(interpolate_state(start.state_dict(), tuned.state_dict(), 0.3))
    torch.testing.assert_close(logits(mixed, magnitude), expected, rtol=1e-4, atol=1e-4)


def test_different_weights_are_refused() -> None:
    start = trained(1).state_dict()
    tuned = dict(start)
    tuned.pop("head.bias")
    with pytest.raises(ValueError, match=r"head\.bias"):
        interpolate_state(start, tuned, 0.5)
    tuned = dict(start, **{"head.bias": torch.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        interpolate_state(start, tuned, 0.5)


def test_the_command_writes_a_checkpoint_with_its_lineage(tmp_path) -> None:
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"m{seed}.pt"
        record = {"architecture": CONFIG.as_dict(), "model_state": trained(seed).state_dict()}
        torch.save({**record, "calibration": {"slope": 0.5, "bias": 0.25}}, path)
        paths.append(path)
    out = tmp_path / "out" / "mixed.pt"
    main([str(paths[0]), str(paths[1]), str(out), "--alpha", "0.25"])
    state = torch.load(out, weights_only=False)
    assert state["interpolated"]["alpha"] == 0.25
    assert state["interpolated"]["start"]["path"] == str(paths[0])
    assert len(state["interpolated"]["tuned"]["sha256"]) == 64
    model = CausalUNet(UNetConfig.from_dict(state["architecture"]))
    model.load_state_dict(state["model_state"])  # a loadable model
