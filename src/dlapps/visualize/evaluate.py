"""How good is a saliency map? Deletion/insertion AUC (Petsiuk et al. 2018) and the model
randomisation sanity check (Adebayo et al. 2018)."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms.functional as TF


@torch.no_grad()
def deletion_insertion(model: nn.Module, x: torch.Tensor, target: int, sal: torch.Tensor, steps: int = 32,
                       batch: int = 33, patch: int | None = None,
                       fill: str = "blur") -> tuple[float, float, np.ndarray, np.ndarray]:
    """Probability of ``target`` as the most salient pixels are removed (deletion) or revealed on a
    blurred copy (insertion). Returns (deletion AUC, insertion AUC, both curves).

    Deletion replaces pixels by a blurred copy (``fill="blur"``, default) or by black (``"black"``,
    Petsiuk et al.'s original). Black patches scattered over the image are far out of the training
    distribution, so a random order destroys any prediction fast and a random map then scores better
    than a real one; blurring removes the evidence without that artefact.

    x: (C, H, W) in [0, 1]; sal: (H, W). Lower deletion AUC and higher insertion AUC = better map.
    ``patch`` > 1 ranks ``patch`` x ``patch`` blocks by the map's mean over the block instead of single
    pixels (coarser maps such as Grad-CAM are then compared at their own resolution).
    """
    import torch.nn.functional as F

    c, h, w = x.shape
    sal = sal.to(x.device)
    patch = patch or 1
    if patch > 1:  # rank blocks, then every pixel inherits its block's score (ties broken by pixel score)
        block = F.avg_pool2d(sal[None, None], patch, ceil_mode=True)
        block = F.interpolate(block, scale_factor=patch, mode="nearest")[0, 0, :h, :w]
        sal = block + 1e-6 * sal / (sal.abs().max() + 1e-12)
    order = torch.argsort(sal.flatten(), descending=True)
    k = max(3, int(w // 10) | 1)  # a strong blur, as in Petsiuk et al. (odd kernel ~ w/10, sigma ~ w/20)
    blurred = TF.gaussian_blur(x[None], kernel_size=[k, k], sigma=max(1.0, w / 20))[0]
    counts = np.linspace(0, h * w, steps + 1).round().astype(int)
    curves = []
    if fill not in ("blur", "black"):
        raise ValueError("fill must be blur or black")
    removed = blurred if fill == "blur" else torch.zeros_like(x)
    for fill_with, base in ((removed, x), (x, blurred)):  # deletion, then insertion
        imgs = []
        for k in counts:
            m = torch.zeros(h * w, dtype=torch.bool, device=x.device)
            m[order[:k]] = True
            m = m.view(1, h, w)
            imgs.append(torch.where(m, fill_with, base))
        probs = []
        for i in range(0, len(imgs), batch):
            probs.append(torch.softmax(model(torch.stack(imgs[i:i + batch])), 1)[:, target])
        curves.append(torch.cat(probs).float().cpu().numpy())
    auc = lambda y: float(np.trapezoid(y, dx=1.0 / steps)) if hasattr(np, "trapezoid") else float(np.trapz(y, dx=1.0 / steps))
    return auc(curves[0]), auc(curves[1]), curves[0], curves[1]


def randomize_top(model: nn.Module, k: int, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with its last ``k`` parameterised layers (Conv/Linear/BN) re-initialised."""
    m = copy.deepcopy(model)
    layers = [mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    torch.manual_seed(seed)
    for mod in layers[-k:] if k else []:
        mod.reset_parameters()
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
    for p in m.parameters():
        p.requires_grad_(False)
    return m.eval()


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps."""
    import warnings

    from scipy.stats import spearmanr

    a, b = a.flatten().numpy(), b.flatten().numpy()
    if a.std() == 0 or b.std() == 0:  # e.g. an all-zero Grad-CAM of a randomised model: no rank information
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = spearmanr(a, b).statistic
    return float(r) if np.isfinite(r) else 0.0


def n_param_layers(model: nn.Module) -> int:
    return sum(1 for mod in model.modules() if isinstance(mod, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)))
