"""The losses of VADA and DIRT-T (Shu, Bui, Narui & Ermon, "A DIRT-T Approach to Unsupervised Domain
Adaptation", ICLR 2018): the conditional entropy of the classifier on unlabelled target images (decision
boundaries should avoid dense regions) and virtual adversarial training (Miyato et al., TPAMI 2018: the
classifier should not change within an L2 ball of radius ε around each image)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def conditional_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy of the predicted class distribution, H(p(y|x)), over a batch of logits (B, K)."""
    logp = F.log_softmax(logits, 1)
    return -(logp.exp() * logp).sum(1).mean()


def _unit(d: torch.Tensor) -> torch.Tensor:
    """Each sample scaled to L2 norm 1 over all its pixels and channels."""
    return d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (d.dim() - 1)))


def vat_perturbation(classify: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, logits: torch.Tensor,
                     eps: float, xi: float = 1e-6, iters: int = 1, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """The virtual adversarial direction r (B, ...), each of L2 norm ``eps``: ``iters`` power iterations from a
    random direction, scaled by ``xi``, towards the dominant eigenvector of the KL's Hessian at x."""
    p = F.softmax(logits.detach(), 1)
    d = _unit(torch.randn(x.shape, generator=generator).to(x.device, x.dtype))
    for _ in range(iters):
        d = (xi * d).requires_grad_(True)
        kl = F.kl_div(F.log_softmax(classify(x + d), 1), p, reduction="batchmean")
        d = _unit(torch.autograd.grad(kl, d)[0].detach())
    return eps * d


def vat_loss(classify: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, logits: torch.Tensor, eps: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """KL(p(y|x) ‖ p(y|x + r)) at the virtual adversarial r of radius ``eps`` (gradients reach the model through
    the perturbed pass only; p(y|x) is a fixed target)."""
    r = vat_perturbation(classify, x, logits, eps, generator=generator)
    return F.kl_div(F.log_softmax(classify(x + r), 1), F.softmax(logits.detach(), 1), reduction="batchmean")


def dirtt_loss(student: Callable[[torch.Tensor], torch.Tensor], teacher_logits: torch.Tensor, xt: torch.Tensor,
               beta: float, target_weight: float, eps: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """DIRT-T's refinement objective on a target batch: ``target_weight`` · (conditional entropy + VAT) of the
    student, plus ``beta`` · KL(teacher ‖ student), the trust region that keeps each refinement near the model it
    started from (the teacher: the previous round's weights). ``beta`` = inf is the limit where only the trust
    region counts: the student stays the teacher."""
    logits = student(xt)
    trust = F.kl_div(F.log_softmax(logits, 1), F.softmax(teacher_logits.detach(), 1), reduction="batchmean")
    if beta == float("inf"):
        return trust
    return target_weight * (conditional_entropy(logits) + vat_loss(student, xt, logits, eps, generator)) + beta * trust
