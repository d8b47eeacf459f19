"""Copy benchmark figures into README.md from benchmarks/results/<name>.json (never by hand).

README.md holds one block per benchmark between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``;
this script rewrites each block from the committed results file, with its commit, date and machine.

    python scripts/bench_figures.py          # rewrite the blocks
    python scripts/bench_figures.py --check  # exit 1 if README.md is out of date (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]


def _provenance(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return (f"*Measured {doc['date'][:10]} at commit `{doc['commit']}` on {m['cpu']} ({m['cores']} cores, "
            f"{doc['threads']} threads), torch {m['torch']}; from `benchmarks/results/{doc['benchmark']}.json`.*")


def render_inference(doc: dict[str, Any]) -> str:
    f = doc["figures"]
    mb = f["mobilenet_v2"]
    rows = ["| MobileNetV2 features, 15-Scene, cold cache | images/s | GFLOP/s | × plain loop |", "| --- | ---: | ---: | ---: |"]
    for k, r in mb["images_per_s"].items():
        rows.append(f"| {k} | {r:.1f} | {r * mb['gflops_per_image']:.1f} | {mb['vs_plain'][k]:.2f} |")
    if "torch_compile_network_alone_images_per_s" in mb:
        r = mb["torch_compile_network_alone_images_per_s"]
        rows.append(f"| torch.compile, network alone (after {mb['torch_compile_s']:.0f} s compiling) | {r:.1f} | "
                    f"{r * mb['gflops_per_image']:.1f} | {r / mb['images_per_s']['plain loop']:.2f} |")
    out = ["\n".join(rows), "",
           f"dlapps' default reaches {100 * mb['default_vs_network_alone']:.0f} % of the network-alone rate "
           f"(images decoded and resized in a thread beside the network; on 2 cores both compete)."]
    peak = f.get("matmul_peak_gflops")
    if peak:
        rows = [f"| network (extraction path) | fp32 | bf16 | ONNX Runtime | fp32 share of the {peak:.0f} GFLOP/s "
                "float32 matmul peak |", "| --- | ---: | ---: | ---: | ---: |"]
        for name in ("vgg16", "squeezenet1_1"):
            if name in f:
                n = f[name]
                rows.append(f"| {name} ({n['weights'].split(' (')[0]}) | {n['fp32']['gflops']:.0f} GFLOP/s | "
                            f"{n['bf16']['gflops']:.0f} | {n['onnxruntime']['gflops']:.0f} | "
                            f"{100 * n['fp32']['of_fp32_peak']:.0f} % |")
        out += ["", "\n".join(rows)]
    acc = f.get("probe_accuracy")
    if acc:
        out += ["", "Linear-probe test accuracy on all 4,485 images (features.18, C by 5-fold CV): "
                + "; ".join(f"{k} **{v['test_acc']:.4f}** ({v['images_per_s']:.0f} images/s)" for k, v in acc.items())
                + "."]
    return "\n".join(out)


def render_visualize_speed(doc: dict[str, Any]) -> str:
    f = doc["figures"]
    rows = [f"| {f['model']}, {f['images']} ImageNet photos | plain per-image loop | dlapps (batched) | speed-up | "
            "per image, against the plain loop |", "| --- | ---: | ---: | ---: | --- |"]
    for k, v in f.items():
        if not (isinstance(v, dict) and "speedup" in v):
            continue
        if "success_same" in v:
            n = f["images"]
            same = (f"success {'identical' if v['success_same'] else 'differs'}; iterations differ on "
                    f"{v['images_with_other_iterations']['dlapps']}/{n} images (by ≤ {v['max_iteration_difference']['dlapps']}), "
                    f"as they do on {v['images_with_other_iterations']['reference, channels-last model']}/{n} for the "
                    "plain loop itself on channels-last activations (float rounding)")
        else:
            same = "final probabilities within 0.001" if v["identical_per_image"] else "final probabilities differ"
        rows.append(f"| {k} | {v['reference_s']:.1f} s | {v['dlapps_s']:.1f} s | {v['speedup']:.1f}× | {same} |")
    return "\n".join(rows)


RENDER: dict[str, Callable[[dict[str, Any]], str]] = {"inference": render_inference,
                                                       "visualize_speed": render_visualize_speed}


def updated_readme(readme: str) -> str:
    for name, render in RENDER.items():
        path = ROOT / "benchmarks" / "results" / f"{name}.json"
        start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        if start not in readme or not path.exists():
            continue
        doc = json.loads(path.read_text())
        block = f"{start}\n{render(doc)}\n\n{_provenance(doc)}\n{end}"
        readme = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
    return readme


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = ROOT / "README.md"
    old = path.read_text()
    new = updated_readme(old)
    if args.check:
        if new != old:
            print("README.md benchmark figures differ from benchmarks/results/: run python scripts/bench_figures.py")
            sys.exit(1)
        return
    path.write_text(new)
    print("README.md benchmark blocks updated" if new != old else "README.md already up to date")


if __name__ == "__main__":
    main()
