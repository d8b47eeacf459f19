from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dlapps import DlappsError
from dlapps.core.data import load_dataset, make_mnistm


def test_embedded_mnist_shapes_and_ranges():
    b = load_dataset("mnist", source="embedded", verbose=False)
    assert b.train.images.shape == (4000, 1, 28, 28) and b.test.images.shape == (1000, 1, 28, 28)
    assert b.train.images.dtype == torch.uint8 and int(b.train.images.max()) == 255
    assert sorted(torch.unique(b.train.labels).tolist()) == list(range(10))
    assert "embedded" in b.source


def test_generated_mnistm_is_deterministic_and_blended():
    digits = load_dataset("mnist", source="embedded", verbose=False).test.images[:64]
    a, b = make_mnistm(digits, seed=3), make_mnistm(digits, seed=3)
    assert a.shape == (64, 3, 32, 32) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, make_mnistm(digits, seed=4))
    assert a.float().std() > 20  # photo texture, not a flat background


def test_embedded_mnistm_bundle_keeps_labels():
    m = load_dataset("mnist", source="embedded", verbose=False)
    mm = load_dataset("mnistm", source="embedded", verbose=False)
    assert torch.equal(m.train.labels, mm.train.labels)
    assert mm.train.images.shape[1:] == (3, 32, 32)


def test_digits_and_photos():
    d = load_dataset("digits", verbose=False)
    assert d.train.images.shape[1:] == (1, 8, 8) and len(d.train) + len(d.test) == 1797
    p = load_dataset("photos", verbose=False)
    assert p.train.encoded and Image.open(io.BytesIO(p.train.images[0])).mode == "RGB"


def test_dlapps_data_npz_source(tmp_path, monkeypatch):
    x = np.random.default_rng(0).integers(0, 255, (20, 28, 28), dtype=np.uint8)
    y = np.arange(20) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    monkeypatch.setenv("DLAPPS_DATA", str(tmp_path))
    b = load_dataset("mnist", source="local", verbose=False)
    assert "DLAPPS_DATA" in b.source and len(b.train) == 20
    assert torch.equal(b.train.images[:, 0], torch.from_numpy(x))


def test_explicit_path_wins(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp_path / "m.npz", x_train=x, y_train=np.arange(4), x_test=x, y_test=np.arange(4))
    b = load_dataset("mnist", path=tmp_path / "m.npz", verbose=False)
    assert b.source.startswith("path:") and len(b.train) == 4


def test_image_folder_seeded_split(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.new("L", (10, 12), i * 20).save(tmp_path / c / f"{i}.png")
    b1 = load_dataset(str(tmp_path), verbose=False)
    assert b1.class_names == ["a", "b"]
    from dlapps.core.data import image_folder

    b = image_folder(tmp_path, "x", per_class_train=3, seed=1)
    assert len(b.train) == 6 and len(b.test) == 4
    assert image_folder(tmp_path, "x", per_class_train=3, seed=1).train.names == b.train.names


def test_offline_without_fallback_names_the_file():
    with pytest.raises(DlappsError, match=r"scene15.npz"):
        load_dataset("scene15", verbose=False)


def test_download_is_skipped_offline_and_falls_back():
    b = load_dataset("mnist", source="auto", verbose=False)
    assert "embedded" in b.source and "download failed" in b.note


def test_unknown_dataset_suggests():
    with pytest.raises(DlappsError, match="did you mean 'mnist'"):
        load_dataset("mnsit")


def test_corrupt_npz_is_one_clear_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DlappsError, match="cannot read"):
        load_dataset("mnist", path=tmp_path / "bad.npz", verbose=False)


@pytest.mark.shared
def test_shared_real_data(shared_env):
    m = load_dataset("mnist", verbose=False)
    assert m.train.images.shape == (60000, 1, 28, 28) and m.train.labels[:5].tolist() == [5, 0, 4, 1, 9]
    s = load_dataset("scene15", verbose=False)
    assert (len(s.train), len(s.test), len(s.class_names)) == (1500, 2985, 15)


def test_a_cached_artefact_is_built_once_while_others_wait(tmp_path, monkeypatch):
    """Two workers asking for the same slow artefact at once: one builds it, the other waits and loads it."""
    import threading
    import time

    import numpy as np

    from dlapps.core.data.downloads import cached_arrays

    monkeypatch.setenv("DLAPPS_CACHE", str(tmp_path))
    calls, got = [], []

    def build() -> dict:
        calls.append(1)
        time.sleep(0.3)  # long enough for the other thread to arrive while this one builds
        return {"x": np.arange(5)}

    threads = [threading.Thread(target=lambda: got.append(cached_arrays("t", "k", build))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 2
    assert all((g["x"] == np.arange(5)).all() for g in got)


def test_a_cached_artefact_is_built_on_one_thread_whatever_the_caller_runs(tmp_path, monkeypatch):
    """The demo's CNN and the GAN judge are built once and read by every later run: built on the caller's threads,
    their weights (and the demo's digit probe, which flipped its pick) would depend on who built them first."""
    import torch

    from dlapps.core.data.downloads import load_or_build

    monkeypatch.setenv("DLAPPS_CACHE", str(tmp_path))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = load_or_build(tmp_path / "a.npy", lambda: None, lambda: torch.get_num_threads())
        assert seen == 1 and torch.get_num_threads() == 2  # one thread inside, the caller's setting after
        def fail() -> None:
            raise RuntimeError("the build failed")

        with pytest.raises(RuntimeError):  # restored when the build fails too
            load_or_build(tmp_path / "b.npy", lambda: None, fail)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
