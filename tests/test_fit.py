"""runner.fit: the one training loop (checkpoints, resume, the best unit, early stopping, a NaN mid-epoch)."""

from __future__ import annotations

import pytest
import torch

from dlapps import DlappsError
from dlapps.core.compute import DivergenceError
from dlapps.runner.fit import Loop, fit, parts_of
from dlapps.runner.runs import RunDir, RunOptions


def toy(epochs: int, blow_up_at: int | None = None, **kw) -> tuple[Loop, torch.nn.Linear]:
    """A linear model trained by SGD on fixed data, each epoch seeded by its index (as every app does)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(32, 3), torch.randn(32, 1)

    def epoch(i: int, history: list) -> dict:
        g = torch.Generator().manual_seed(i)
        for _ in range(4):
            idx = torch.randint(32, (8,), generator=g)
            loss = ((model(x[idx]) - y[idx]) ** 2).mean()
            if i == blow_up_at:
                raise DivergenceError("loss became nan")
            optim.zero_grad()
            loss.backward()
            optim.step()
        return {"epoch": i + 1, "loss": float(((model(x) - y) ** 2).mean().detach()), "val_score": [3, 5, 4, 2, 1][i % 5]}

    return Loop({"model": model, "optimizer": optim}, epoch, epochs, **kw), model


def test_a_run_cut_after_two_epochs_resumes_to_the_same_history_and_weights(tmp_path):
    full_loop, full_model = toy(4)
    full = fit(RunDir(tmp_path / "full"), RunOptions(quiet=True), full_loop)
    part_loop, _ = toy(2)
    fit(RunDir(tmp_path / "cut"), RunOptions(quiet=True), part_loop)
    rest_loop, rest_model = toy(4)  # a fresh process: fresh weights, then the checkpoint
    rest = fit(RunDir(tmp_path / "cut"), RunOptions(quiet=True, resume=True), rest_loop)
    assert rest == full and len(rest) == 4
    assert torch.equal(rest_model.weight, full_model.weight)
    ck = RunDir(tmp_path / "cut").load_checkpoint()
    assert ck["epoch"] == 4 and ck["unit"] == "epoch" and set(ck["parts"]) == {"model", "optimizer"}


def test_a_nan_keeps_the_finished_epochs_and_the_best_and_stop_hooks_are_asked(tmp_path):
    loop, _ = toy(5, blow_up_at=3)
    run = RunDir(tmp_path / "nan")
    with pytest.raises(DivergenceError):
        fit(run, RunOptions(quiet=True), loop)
    assert [r["epoch"] for r in run.load_checkpoint()["history"]] == [1, 2, 3]

    best = lambda h: max(r["val_score"] for r in h) == h[-1]["val_score"]  # noqa: E731
    stop = lambda h: len(h) >= 2 and h[-1]["val_score"] < max(r["val_score"] for r in h)  # noqa: E731
    loop, _ = toy(5, best=best, stop=stop)
    run = RunDir(tmp_path / "sel")
    history = fit(run, RunOptions(quiet=True), loop)
    assert [r["val_score"] for r in history] == [3, 5, 4]      # stopped once the score fell
    sel = run.load_checkpoint("selected.pt")
    assert sel["epoch"] == 2 and set(parts_of(sel)) == {"model"}


def test_a_checkpoint_from_before_fit_is_refused_with_one_clear_line(tmp_path):
    run = RunDir(tmp_path / "old")
    run.save_checkpoint({"model": {}, "optimizer": {}, "epoch": 1, "history": []})
    loop, _ = toy(2)
    with pytest.raises(DlappsError, match="older dlapps"):
        fit(run, RunOptions(quiet=True, resume=True), loop)
    assert parts_of({"model": 1}) == {"model": 1}  # its weights still load (pseudo-label --from an old run)
