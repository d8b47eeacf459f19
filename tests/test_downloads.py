"""The real download code against a local HTTP mirror (``DLAPPS_MIRROR``): small archives with the real layouts,
built here; good, corrupt, truncated, missing and interrupted downloads; archives with unsafe members."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlapps import DlappsError
from dlapps.core.data import load_dataset
from dlapps.core.data import loaders
from dlapps.core.data.fetch import REMOTES, Remote, extract, fetch

SRC = Path(__file__).resolve().parents[1] / "src" / "dlapps"


class _Handler(SimpleHTTPRequestHandler):
    """Serves the mirror folder; ``cut`` names files whose body stops halfway (once, or always)."""

    cut: dict[str, int] = {}  # path -> how many more times to cut it short

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        name = self.path.lstrip("/")
        if self.cut.get(name, 0) > 0:
            self.cut[name] -= 1
            data = Path(self.directory, name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])  # then the connection closes
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving tmp_path/mirror; DLAPPS_MIRROR points at it."""
    root = tmp_path / "mirror"
    root.mkdir()
    _Handler.cut = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DLAPPS_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("DLAPPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DLAPPS_OFFLINE", raising=False)
    yield root
    server.shutdown()
    server.server_close()


def _publish(root: Path, r: Remote, data: bytes, monkeypatch: pytest.MonkeyPatch) -> Remote:
    """Put ``data`` on the mirror at r's path and make the registered remote expect its md5."""
    (root / r.mirror_path).parent.mkdir(parents=True, exist_ok=True)
    (root / r.mirror_path).write_bytes(data)
    new = Remote(r.mirror_path, r.urls, "md5:" + hashlib.md5(data).hexdigest(), "this test")
    return new


def _mnistm_archive(split: str, n: int) -> bytes:
    """The liyxi/mnist-m layout: mnist_m_<split>.pt = (uint8 images N x 32 x 32 x 3, int64 labels) in a tar.gz."""
    g = torch.Generator().manual_seed(0)
    pt = io.BytesIO()
    torch.save((torch.randint(0, 255, (n, 32, 32, 3), dtype=torch.uint8, generator=g), torch.arange(n) % 10), pt)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        info = tarfile.TarInfo(f"mnist_m_{split}.pt")
        info.size = len(pt.getvalue())
        t.addfile(info, io.BytesIO(pt.getvalue()))
    return out.getvalue()


def _scene_zip(classes: int = 15, per_class: int = 3) -> bytes:
    """The 15-Scene layout: a zip of one folder per class of greyscale JPEGs."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for c in range(classes):
            for i in range(per_class):
                img = io.BytesIO()
                Image.fromarray(np.full((24, 32), 10 * c + i, np.uint8)).save(img, "JPEG")
                z.writestr(f"scene_categories/class{c:02d}/image_{i:04d}.jpg", img.getvalue())
    return out.getvalue()


def test_every_download_in_the_code_has_a_digest():
    # every URL written in dlapps' source is declared through remote(...) with an md5 or sha256
    assert {"mnistm/mnist_m_train.pt.tar.gz", "mnistm/mnist_m_test.pt.tar.gz", "scene15/scene_categories.zip",
            "cifar10/cifar-10-python.tar.gz"} <= set(REMOTES)
    assert sum(k.startswith("mnist/") for k in REMOTES) == 4
    declared = {u for r in REMOTES.values() for u in r.urls}
    for r in REMOTES.values():
        algo, _, hexd = r.digest.partition(":")
        assert algo in ("md5", "sha256") and re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", hexd) and r.digest_source
    for f in SRC.rglob("*.py"):
        for url in re.findall(r"https?://[^\s\"')]+\.(?:zip|gz|tgz|tar|pt|npz)\b", f.read_text(encoding="utf-8")):
            pattern = re.escape(url).replace(r"\{", "{").replace(r"\}", "}")
            pattern = re.sub(r"\{[^}]*\}", "[^/]+", pattern)  # an f-string's {field}: any path segment
            assert any(re.search(pattern, d) for d in declared), (f, url)
    # the MNIST and CIFAR-10 digests are torchvision's own
    from torchvision.datasets import CIFAR10, MNIST

    assert {(r.filename, r.digest[4:]) for r in loaders.MNIST_REMOTES} == set(MNIST.resources)
    assert loaders.CIFAR10_REMOTE.digest == f"md5:{CIFAR10.tgz_md5}"


def test_mnistm_download_from_a_mirror_lands_in_the_cache_and_loads(mirror, monkeypatch, tmp_path):
    for split, n in (("train", 40), ("test", 20)):
        r = _publish(mirror, loaders.MNISTM_REMOTES[split], _mnistm_archive(split, n), monkeypatch)
        monkeypatch.setitem(loaders.MNISTM_REMOTES, split, r)
    b = load_dataset("mnistm", source="download", verbose=False)
    assert b.source.startswith("download") and len(b.train) == 40 and len(b.test) == 20
    assert tuple(b.train.images.shape[1:]) == (3, 32, 32)
    cache = tmp_path / "cache" / "mnistm"
    assert sorted(p.name for p in cache.iterdir()) == ["mnist_m_test.pt", "mnist_m_train.pt"]  # no archive, no .part
    # the next call reads the cache, no server needed
    monkeypatch.setenv("DLAPPS_MIRROR", "http://127.0.0.1:9")
    assert len(load_dataset("mnistm", source="auto", verbose=False).train) == 40


def test_scene15_zip_from_a_mirror(mirror, monkeypatch, tmp_path):
    r = _publish(mirror, loaders.SCENE15_REMOTE, _scene_zip(), monkeypatch)
    monkeypatch.setattr(loaders, "SCENE15_REMOTE", r)
    b = load_dataset("scene15", source="download", verbose=False)
    assert len(b.train) + len(b.test) == 45 and len(b.train.class_names) == 15


def test_corrupt_truncated_and_missing_files_are_one_line_and_leave_nothing(mirror, monkeypatch, tmp_path):
    good = _mnistm_archive("test", 10)
    r = _publish(mirror, loaders.MNISTM_REMOTES["test"], good, monkeypatch)
    dest = tmp_path / "dl"
    # corrupt: the server's bytes differ from the declared digest
    (mirror / r.mirror_path).write_bytes(good[:-1] + b"X")
    with pytest.raises(DlappsError) as e:
        fetch(r, dest, quiet=True)
    msg = str(e.value)
    assert "\n" not in msg and r.mirror_path in msg and r.digest[4:] in msg
    assert hashlib.md5(good[:-1] + b"X").hexdigest() in msg and "DLAPPS_ACCEPT_DIGEST=" in msg
    assert not dest.exists() or not any(dest.iterdir())
    # ... accepted knowingly with the printed digest
    monkeypatch.setenv("DLAPPS_ACCEPT_DIGEST", hashlib.md5(good[:-1] + b"X").hexdigest())
    assert fetch(r, dest, quiet=True).read_bytes() == good[:-1] + b"X"
    monkeypatch.delenv("DLAPPS_ACCEPT_DIGEST")
    (dest / r.filename).unlink()
    # truncated: the connection closes halfway through the body
    (mirror / r.mirror_path).write_bytes(good)
    _Handler.cut[r.mirror_path] = 1
    with pytest.raises(DlappsError, match="cut short|broke") as e:
        fetch(r, dest, quiet=True)
    assert "\n" not in str(e.value) and not any(dest.iterdir())
    # ... and the retry (an interrupted download, run again) succeeds
    assert fetch(r, dest, quiet=True).read_bytes() == good
    # missing on the server: 404
    gone = Remote("mnistm/nothing.pt.tar.gz", (), r.digest, "this test")
    with pytest.raises(DlappsError, match="404") as e:
        fetch(gone, dest, quiet=True)
    assert "\n" not in str(e.value) and not (dest / "nothing.pt.tar.gz.part").exists()


def test_a_corrupt_download_is_an_error_not_a_silent_fallback(mirror, monkeypatch):
    r = _publish(mirror, loaders.MNISTM_REMOTES["train"], b"garbage", monkeypatch)
    monkeypatch.setitem(loaders.MNISTM_REMOTES, "train", Remote(r.mirror_path, (), "md5:" + "0" * 32, "this test"))
    with pytest.raises(DlappsError, match="does not match"):
        load_dataset("mnistm", source="auto", verbose=False)


def test_no_network_and_no_mirror_falls_back_as_before(monkeypatch, tmp_path):
    monkeypatch.delenv("DLAPPS_MIRROR", raising=False)
    monkeypatch.setenv("DLAPPS_OFFLINE", "1")
    b = load_dataset("mnistm", source="auto", verbose=False)
    assert "embedded" in b.source and "download failed" in b.note


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archives_with_members_outside_the_folder_are_refused(tmp_path, member, kind):
    archive = tmp_path / f"bad.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("ok.txt", "fine")
            z.writestr(zipfile.ZipInfo(member), "evil")
    else:
        with tarfile.open(archive, "w:gz") as t:
            for name, data in (("ok.txt", b"fine"), (member, b"evil")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    dest = tmp_path / "out" / "deep"
    with pytest.raises(DlappsError, match="outside the folder; refusing"):
        extract(archive, dest)
    assert not any(dest.iterdir())  # nothing extracted, not even the good member
    assert not list(tmp_path.rglob("evil.txt"))


def test_a_tar_with_a_link_is_refused(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with pytest.raises(DlappsError, match="is a link"):
        extract(archive, tmp_path / "out")
