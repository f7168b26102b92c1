"""TENT (Wang et al., ICLR 2021): test-time entropy minimisation on BatchNorm affine parameters.

The model runs its BatchNorm layers on the statistics of each test batch, and after every batch one
optimiser step lowers the mean entropy of its predictions, updating only the BatchNorm scales and
shifts. ``reset`` restores the source model (the benchmark resets per corruption).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["Tent", "bn_affine_parameters"]


def bn_affine_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weight and bias of every BatchNorm layer that has them."""
    return [
        p
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine
        for p in (m.weight, m.bias)
    ]


class Tent(nn.Module):
    """Wrap ``model`` for TENT; ``forward(clips)`` returns the logits and then adapts.

    Args:
        model: a classifier with BatchNorm layers (it is adapted in place; ``reset`` undoes it).
        learning_rate: SGD step size on the BatchNorm affine parameters.
        momentum: SGD momentum.
    """

    def __init__(self, model: nn.Module, learning_rate: float = 1e-3, momentum: float = 0.9):
        super().__init__()
        self.model = model
        parameters = bn_affine_parameters(model)
        if not parameters:
            raise ValueError(f"{type(model).__name__} has no BatchNorm affine parameters for TENT to adapt")
        self.optimizer = torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)
        self._source = copy.deepcopy(model.state_dict())
        self._source_optimizer = copy.deepcopy(self.optimizer.state_dict())
        self._configure()

    def _configure(self) -> None:
        self.model.eval()
        self.model.requires_grad_(False)
        for module in self.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train()  # normalise with the test batch's statistics
                module.momentum = 0.0  # ... without drifting the stored running statistics
                if module.affine:
                    module.weight.requires_grad_(True)
                    module.bias.requires_grad_(True)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            logits = self.model(clips)
            probabilities = logits.softmax(dim=1)
            entropy = -(probabilities * logits.log_softmax(dim=1)).sum(dim=1).mean()
            entropy.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return logits.detach()

    def reset(self) -> None:
        """Back to the source model and a fresh optimiser state."""
        self.model.load_state_dict(self._source)
        self.optimizer.load_state_dict(self._source_optimizer)
        self._configure()
