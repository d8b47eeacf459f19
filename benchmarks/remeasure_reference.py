"""Re-measure only the plain reference loops and the matmul peak (when a benchmark's first measurement
overlapped other work): prints ms/step for the generate and adapt references and the peak.

    python benchmarks/remeasure_reference.py [--steps 30]
"""

from __future__ import annotations

import argparse

from bench_adapt import reference_step as adapt_reference_step
from bench_generate import reference_step as gan_reference_step
from common import matmul_peak_gflops, ms_per_step

from dlapps.generate import GanConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    print(f"matmul peak: {matmul_peak_gflops():.0f} GFLOP/s")
    c = GanConfig(conditional=True)
    step = gan_reference_step(c.conditional, c.d_label, c.g_label)
    print(f"generate reference (cGAN, d_label={c.d_label}, g_label={c.g_label}): "
          f"{ms_per_step(step, args.steps):.1f} ms/step")
    print(f"adapt reference (DANN, batch 128): {ms_per_step(adapt_reference_step(128), 3 * args.steps):.1f} ms/step")


if __name__ == "__main__":
    main()
