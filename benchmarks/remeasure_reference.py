"""Re-measure only the plain reference loops and the matmul peak (when a benchmark's first measurement
overlapped other work): prints ms/step for the generate and adapt references and the peak.

    python benchmarks/remeasure_reference.py [--steps 30]
"""

from __future__ import annotations

import argparse

from bench_adapt import reference_ms_per_step as adapt_reference
from bench_generate import reference_ms_per_step as gan_reference
from common import matmul_peak_gflops

from dlapps.generate import GanConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    print(f"matmul peak: {matmul_peak_gflops():.0f} GFLOP/s")
    print(f"generate reference (cGAN, d_label={GanConfig().d_label}): "
          f"{gan_reference(args.steps, True, GanConfig().d_label):.1f} ms/step")
    print(f"adapt reference (DANN, batch 128): {adapt_reference(3 * args.steps, 128):.1f} ms/step")


if __name__ == "__main__":
    main()
