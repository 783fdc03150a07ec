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


def test_band_from_takes_the_banded_models_band(tmp_path) -> None:
    """``--band-from``: the interpolated U-Net with another model's long band; at alpha 0, with
    the band of a model whose U-Net is START, the output is that model exactly."""
    from dataclasses import replace

    banded_config = replace(
        CONFIG,
        long_band_analysis_samples=4096,
        long_band_input_bins=40,
        long_band_bins=24,
        long_band_crossover_bins=(12.0, 20.0),
        long_band_channels=6,
        long_band_dilations=(1, 2),
    )
    torch.manual_seed(5)
    banded = CausalUNet(banded_config).eval()
    start = trained(1)
    banded.load_state_dict(start.state_dict(), strict=False)  # START's U-Net, its own band
    paths = {name: tmp_path / f"{name}.pt" for name in ("start", "tuned", "banded")}
    contract = {"context_frames": 81}
    for name, model, config in (
        ("start", start, CONFIG),
        ("tuned", trained(2), CONFIG),
        ("banded", banded, banded_config),
    ):
        torch.save(
            {
                "architecture": config.as_dict(),
                "model_state": model.state_dict(),
                "contract": {"context_frames": 143} if name == "banded" else contract,
            },
            paths[name],
        )
    for alpha in (0.0, 0.5):
        out = tmp_path / f"a{alpha}.pt"
        main([*(str(paths[n]) for n in ("start", "tuned")), str(out), "--alpha", str(alpha),
              "--band-from", str(paths["banded"])])  # fmt: skip
        state = torch.load(out, weights_only=False)
        assert state["architecture"] == banded_config.as_dict()
        assert state["contract"] == {"context_frames": 143}
        mixed = CausalUNet(banded_config).eval()
        mixed.load_state_dict(state["model_state"])
        magnitude = torch.rand(1, 2, 65 + 40, 20) * 4
        with torch.no_grad():
            same = torch.equal(mixed(magnitude), banded(magnitude))
        assert same == (alpha == 0.0)
        band = {k: v for k, v in state["model_state"].items() if k.startswith("long_band.")}
        for key, value in band.items():
            assert torch.equal(value, banded.state_dict()[key])
