import pytest
import torch
from torch import nn

from video_decorruptor.recognition.action_net import TinyActionNet
from video_decorruptor.recognition.tent import Tent, bn_affine_parameters


def test_tent_updates_only_batchnorm_affine_parameters_and_resets():
    torch.manual_seed(0)
    model = TinyActionNet(width=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapted = Tent(model, learning_rate=0.1)
    clips = torch.rand(4, 3, 8, 32, 32)
    entropies = []
    for _ in range(3):
        logits = adapted(clips)
        assert logits.shape == (4, 10) and not logits.requires_grad
        p = logits.softmax(1)
        entropies.append(float(-(p * p.log()).sum(1).mean()))
    assert entropies[-1] < entropies[0]  # entropy minimisation works on a fixed batch
    affine = {id(p) for p in bn_affine_parameters(model)}
    names = {name for name, p in model.named_parameters() if id(p) in affine}
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):  # a counter BatchNorm keeps in train mode
            continue
        changed = not torch.equal(value, before[name])
        assert changed == (name in names), name  # running statistics untouched (momentum 0)
    adapted.reset()
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_tent_needs_batchnorm():
    with pytest.raises(ValueError, match="Linear has no BatchNorm affine parameters"):
        Tent(nn.Linear(3, 2))
