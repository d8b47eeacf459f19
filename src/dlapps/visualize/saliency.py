"""Saliency methods with one uniform call, ``Method(model).attribute(x, target) -> (B, H, W)`` >= 0.

Vanilla gradient is the lab's (max |∂score/∂x| over channels); SmoothGrad, Integrated Gradients and
Grad-CAM come from Captum.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from dlapps import DlappsError


METHODS: dict[str, type] = {}  # --method NAME -> the class; each registers itself with @register_method


def register_method(cls: type) -> type:
    """Register a saliency method under its ``name`` (Captum-style: one small class, ``attribute(x, target)``)."""
    METHODS[cls.name] = cls
    return cls


@register_method
class VanillaGradient:
    """max over channels of |∂ s_target / ∂ x| (Simonyan et al. 2014, as in the lab)."""

    name = "gradient"

    def __init__(self, model: nn.Module):
        self.model = model

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from captum.attr import Saliency

        return Saliency(self.model).attribute(x, target=target, abs=True).amax(1)  # (B, H, W)


@register_method
class SmoothGrad(VanillaGradient):
    """Vanilla gradient averaged over noisy copies (Smilkov et al. 2017), via Captum's NoiseTunnel."""

    name = "smoothgrad"

    def __init__(self, model: nn.Module, samples: int = 16, noise: float = 0.15):
        super().__init__(model)
        self.samples, self.noise = samples, noise

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from captum.attr import NoiseTunnel, Saliency

        nt = NoiseTunnel(Saliency(self.model))
        out = nt.attribute(x, nt_type="smoothgrad", nt_samples=self.samples, nt_samples_batch_size=self.samples,
                           stdevs=self.noise, target=target, abs=True)
        return out.amax(1)


@register_method
class IntegratedGradientsMap(VanillaGradient):
    """|Integrated Gradients| from a black baseline, summed over channels (Sundararajan et al. 2017)."""

    name = "integrated_gradients"

    def __init__(self, model: nn.Module, steps: int = 32):
        super().__init__(model)
        self.steps = steps

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(self.model)
        return ig.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=self.steps,
                            internal_batch_size=self.steps).abs().sum(1)


@register_method
class GradCAM(VanillaGradient):
    """Grad-CAM at the last convolution (Selvaraju et al. 2017), upsampled to the input size."""

    name = "gradcam"

    def __init__(self, model: nn.Module, layer: nn.Module | None = None):
        super().__init__(model)
        self.layer = layer or last_conv(model)

    def attribute(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from captum.attr import LayerGradCam

        cam = LayerGradCam(self.model, self.layer).attribute(x, target=target, relu_attributions=True)
        return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0].clamp_min(0)


def last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("Grad-CAM needs a convolutional layer")
    return convs[-1]




def make_method(name: str, model: nn.Module) -> VanillaGradient:
    if name not in METHODS:
        raise DlappsError(f"unknown saliency method {name!r}; use {', '.join(METHODS)}")
    return METHODS[name](model)


def compute_map(method: VanillaGradient, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Attribute in small batches with gradients enabled on a fresh input copy; maps (B, H, W) on the CPU."""
    outs = []
    for i in range(0, len(x), 4):
        xi = x[i:i + 4].clone().requires_grad_(True)
        outs.append(method.attribute(xi, target[i:i + 4].to(x.device)).detach().cpu())
    return torch.cat(outs)
