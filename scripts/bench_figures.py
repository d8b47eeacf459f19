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
           f"(images decoded and resized in a thread beside the network; on 2 cores both compete)."
           + _by_block(mb)]
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


def _by_block(mb: dict[str, Any]) -> str:
    """The per-block ratios (each block times every contestant back to back), where the run recorded them."""
    if "default_vs_network_alone_by_block" not in mb:
        return ""
    alone, plain = mb["default_vs_network_alone_by_block"], mb["default_vs_plain_by_block"]
    return (f" Block by block: {', '.join(f'{100 * r:.0f} %' for r in alone)} of the network alone, "
            f"{', '.join(f'{r:.2f}×' for r in plain)} the plain loop.")


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
            if "first_iteration_p90_dlapps" in v:
                same += (f"; first iteration with p ≥ 0.9: {v['first_iteration_p90_reference']} (plain), "
                         f"{v['first_iteration_p90_dlapps']} (dlapps): p jumps between ~0 and ~1 for dozens of "
                         "iterations under jitter, so float rounding moves it")
        rows.append(f"| {k} | {v['reference_s']:.1f} s | {v['dlapps_s']:.1f} s | {v['speedup']:.1f}× | {same} |")
    out = "\n".join(rows)
    if "attack_speedup_ceiling" in f:
        (ref, ms_ref), (ours, ms_ours) = f["forward_backward_ms_per_image"].items()
        out += (f"\n\nAn attack costs one forward + backward pass per image and iteration: {ms_ref:.1f} ms per image "
                f"({ref}) against {ms_ours:.1f} ms ({ours}). No batching of the same "
                f"float32 maths can beat that **{f['attack_speedup_ceiling']:.1f}×** on this machine, and a slow "
                "image's last iterations run at batch 1 whatever the schedule.")
    return out


def _ms(x: dict[str, Any]) -> str:
    return f"{x['mean']:.4f} ± {x['sd']:.4f}"


def row_transfer(f: dict[str, Any]) -> str:
    one, five = f["one_layer"], f["five_layers"]
    return (f"MobileNetV2 {f['best_layer']} (best by CV of {len(f['probe'])} layers) + linear SVM, C by 5-fold CV, on "
            f"15-Scene: test **{f['best_test_acc']:.4f}** (plain pooled-feature LinearSVC at C = 1: "
            f"{f['plain_test_acc']:.4f}); on cached features a new C grid is {one['speedup_new_grid']:.0f}× faster "
            f"than the first probe, logistic regression {one['speedup_logreg']:.0f}×, the five-layer table "
            f"{five['speedup']:.0f}×; extraction {f['images_per_s']:.1f} images/s = {f['achieved_gflops']:.1f} GFLOP/s "
            f"({100 * f['achieved_gflops'] / f['peak_gflops']:.0f} % of the {f['peak_gflops']:.0f} GFLOP/s matmul peak, "
            f"decoding included); parameters: VGG16 {f['params_vgg16']:,}, AlexNet {f['params_alexnet']:,}, "
            f"ResNet50 {f['params_resnet50']:,}")


def row_selection(f: dict[str, Any]) -> str:
    sel = f["selector"]

    def pick(sweep: dict[str, Any]) -> str:
        r = next(r for r in sweep["table"] if r["validator"] == sel)
        return f"`{sweep['picked']}` (target {r['target_acc']:.4f}, gap to the oracle {r['gap']:.4f})"

    fin = f["final"]
    return (f"selector **{sel}**, fixed in advance; DANN sweep: it picks {pick(f['dann_sweep'])}; pseudo-label sweep: "
            f"{pick(f['pseudo_label_sweep'])}; final protocol, {len(f['seeds'])} seeds ({fin['epochs']} DANN epochs, "
            f"{fin['rounds']} rounds): DANN target {_ms(fin['dann']['target'])}, + pseudo-labels target "
            f"**{_ms(fin['dann_plus_pseudo_labels']['target'])}**, source {_ms(fin['dann_plus_pseudo_labels']['source'])}")


def row_adapt(f: dict[str, Any]) -> str:
    return (f"a DANN step {f['speedup']:.2f}× faster than the plain loop ({f['dann_ms_per_step']:.1f} vs "
            f"{f['reference_ms_per_step']:.1f} ms, alternating blocks; {f['gflops']:.1f} GFLOP/s = "
            f"{100 * f['share_of_peak']:.0f} % of the matmul peak); source-only target {f['source-only']['target']:.4f} "
            f"(the paper's network: {f['source-only-paper-net']['target']:.4f}); DANN target **{f['dann']['target']:.4f}** "
            f"/ source {f['dann']['source']:.4f} ({f['dann_train_s'] / 60:.1f} min of training); + pseudo-labels target "
            f"**{f['pseudo_label_target_acc']:.4f}** (the same loop on the true target labels: "
            f"{f['oracle_labels_target_acc']:.4f})")


def row_generate(f: dict[str, Any]) -> str:
    parts = [f"a cGAN step {f['speedup_interleaved']:.2f}× faster than the plain loop (`--precision bf16`: "
             f"{f['speedup_bf16_interleaved']:.2f}×)"]
    for name in ("cgan", "dcgan", "cgan-bf16"):
        if name in f:
            m = f[name]
            line = (f"{name}: {m['class_coverage']}/10 classes, class KL {m['class_kl']:.4f}, classifier-FID "
                    f"{m['classifier_fid']:.2f} (floor {m['classifier_fid_floor']:.2f})")
            if m.get("conditional_accuracy") is not None:
                line += f", conditional accuracy **{m['conditional_accuracy']:.4f}**"
            parts.append(line)
    return "; ".join(parts)


def row_sweep(f: dict[str, Any]) -> str:
    return (f"a 4-point adapt sweep: `--jobs 2` {f['jobs2_s']:.0f} s against `--jobs 1` {f['jobs1_s']:.0f} s "
            f"(×{f['ratio']:.2f}), tables {'identical' if f['identical_tables'] else 'DIFFERENT'}; after deleting 2 "
            f"finished points a rerun ran only those ({f['rerun_two_points_s']:.0f} s), table "
            f"{'identical' if f['rerun_identical'] else 'DIFFERENT'}")


def row_visualize(f: dict[str, Any]) -> str:
    def fool(m: dict[str, Any]) -> str:
        return (f"{100 * m['success_rate']:.0f} % success, median {m['iterations']:g} iterations, L2 {m['l2']:.0f}, "
                f"L∞ {m['linf']:.1f} (0-255 units), the saved PNG still fools in {100 * m['png_still_fools_rate']:.0f} %")

    sal = "; ".join(f"{k} {v['deletion_auc']:.3f} / {v['insertion_auc']:.3f}" for k, v in f["saliency"].items())
    cv = ", ".join(f"{r['target']} {r['first_iter_p90']}" for r in f["classviz"])
    return (f"MobileNetV2, 20 ImageNet photos, seeded random targets: fooling (the lab's method) {fool(f['fool-lab'])}; "
            f"PGD-L∞ ε = 2/255 {fool(f['fool-pgd'])}; saliency deletion / insertion AUC (lower / higher is better): "
            f"{sal}; class visualization, iteration of first p ≥ 0.9: {cv}")


def row_beyond(f: dict[str, Any]) -> str:
    runs = "; ".join(f"{k}: {r['seeds']} seeds, target {r['target']:.4f}, {r['minutes_per_run']:.1f} min per run"
                     for k, r in f["published"].items()) or "no published run yet"
    return (f"one step on {f['network']}, 1 thread (alternating blocks): DANN {f['DANN_ms_per_step']:.1f} ms (the "
            f"reference), VADA {f['VADA_ms_per_step']:.1f} ms (×{f['VADA_vs_dann']:.2f}), DIRT-T "
            f"{f['DIRT-T_ms_per_step']:.1f} ms (×{f['DIRT-T_vs_dann']:.2f})"
            + (f"; VADA on the authors' network (shu-small) {f['VADA_shu-small_ms_per_step']:.1f} ms "
               f"(×{f['VADA_shu-small_vs_dann']:.2f}): the authors' {f['authors_steps']:,} steps would take "
               + ", ".join(f"{h:.1f} h on {net}" for net, h in f["authors_schedule_hours"].items())
               if "authors_schedule_hours" in f else "")
            + f"; published runs of the study report's \"beyond\" section: {runs}")


def render_demo(doc: dict[str, Any]) -> str:
    """The README's set-up sentence on the main job: its measured wall time and its summary box's headlines."""
    f = doc["figures"]
    load = f.get("load_average_before", 0.0)
    when = (" with a fresh cache" if f.get("fresh_cache") else " with a warm cache") + (
        f", beside other work (load average {load:.1f} before it)" if load >= 0.5 else "")
    glance = "\n".join(f"- {g['what']} **{g['value']}**: {g['against']}" for g in f["glance"])
    return (f"Run the demo (every application, quick mode, embedded data, offline; its parts run two at a time, one "
            f"thread each): **{_minutes(f['wall_s'])}** on this {doc['machine']['cores']}-core machine{when}. Its "
            f"report opens with a summary box of the headline comparisons:\n\n{glance}")


def _minutes(s: float) -> str:
    return f"{int(s // 60)} min {round(s % 60):d} s" if s >= 60 else f"{s:.0f} s"


def row_demo(f: dict[str, Any]) -> str:
    return (f"`dlapps demo` in a fresh --out: {_minutes(f['wall_s'])} wall ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in f["parts_s"].items()) + ")")


SUMMARY: dict[str, Callable[[dict[str, Any]], str]] = {
    "demo": row_demo, "transfer": row_transfer, "visualize": row_visualize, "adapt": row_adapt, "selection": row_selection,
    "generate": row_generate, "sweep": row_sweep, "beyond": row_beyond}


def render_summary(docs: dict[str, dict[str, Any]]) -> str:
    """One row per benchmark results file: what it measured, and the command, commit and date it came from."""
    rows = ["| script | measured | run |", "| --- | --- | --- |"]
    for name, row in SUMMARY.items():
        if name in docs:
            d = docs[name]
            run = f"`{d.get('command', f'python benchmarks/bench_{name}.py')}` at `{d['commit']}`, {d['date'][:10]}"
            rows.append(f"| `bench_{name}.py` | {row(d['figures'])} | {run} |")
    return "\n".join(rows)


def render_selection(doc: dict[str, Any]) -> str:
    """Each validator's pick in the two sweeps (the oracle reads test labels: a diagnostic), then the final
    protocol with the pre-registered selector's picks."""
    f = doc["figures"]
    rows = ["| sweep | validator | picks | its target accuracy | gap to the oracle | Spearman ρ |",
            "| --- | --- | --- | ---: | ---: | ---: |"]
    for key, title in (("dann_sweep", "DANN"), ("pseudo_label_sweep", "pseudo-labels")):
        for r in f[key]["table"]:
            name = ("oracle (test labels, diagnostic)" if r["validator"] == "oracle" else
                    f"**{r['validator']}** (pre-registered)" if r["validator"] == f["selector"] else r["validator"])
            rho = "—" if r["validator"] == "oracle" else f"{r['rho']:+.2f}"
            rows.append(f"| {title} | {name} | `{r['point']}` | {r['target_acc']:.4f} | {r['gap']:.4f} | {rho} |")
    fin = f["final"]
    pl = fin["dann_plus_pseudo_labels"]
    vals = ", ".join(f"{v:.4f}" for v in pl["target"]["values"])
    return "\n".join(rows) + (
        f"\n\nFinal protocol with the chosen settings, full data, {len(f['seeds'])} seeds (DANN {fin['epochs']} epochs, "
        f"then {fin['rounds']} pseudo-label rounds): DANN alone reaches target **{_ms(fin['dann']['target'])}**; "
        f"with pseudo-labels, target **{_ms(pl['target'])}** ({vals}) and source {_ms(pl['source'])}."
        + _oracle_picks(f["dann_sweep"]["table"], "DANN") + _validators_share(fin))


def _oracle_picks(table: list[dict[str, Any]], title: str) -> str:
    """Which label-free validators pick the oracle's point in one sweep."""
    hit = [r["validator"] for r in table if r["validator"] != "oracle" and r["gap"] == 0]
    names = " and ".join([", ".join(hit[:-1]), hit[-1]] if len(hit) > 1 else hit)
    return f" On {title}, {names} pick{'s' if len(hit) == 1 else ''} the oracle's point." if hit else ""


def _validators_share(fin: dict[str, Any]) -> str:
    """What scoring the validators every epoch or round cost in the final runs (their timing.validators_share)."""
    s = fin.get("validators_share")
    return (f" Scoring the validators cost {100 * s['dann']:.1f} % of DANN's training time and "
            f"{100 * s['pseudo_label']:.1f} % of pseudo-labelling's in these final runs (`timing.validators_share` "
            "in metrics.json).") if s else ""


RENDER: dict[str, Callable[[dict[str, Any]], str]] = {"demo": render_demo, "inference": render_inference,
                                                       "visualize_speed": render_visualize_speed,
                                                       "selection": render_selection}


def updated_readme(readme: str) -> str:
    start, end = "<!-- bench:summary -->", "<!-- /bench:summary -->"
    docs = {n: json.loads((ROOT / "benchmarks" / "results" / f"{n}.json").read_text()) for n in SUMMARY
            if (ROOT / "benchmarks" / "results" / f"{n}.json").exists()}
    if start in readme:
        block = f"{start}\n{render_summary(docs)}\n{end}"
        readme = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
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
