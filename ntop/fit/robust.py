"""The robust penalty every data term of the fit uses."""

from __future__ import annotations

import torch

__all__ = ["geman_mcclure"]


def geman_mcclure(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure on squared residuals, scaled to equal ``sq`` near zero and ``sigma^2`` at most."""
    return sq * sigma**2 / (sq + sigma**2)
