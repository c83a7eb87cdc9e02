"""ResNet-18 in its CIFAR form (He et al., 2016, "Deep Residual Learning", section 4.2 style stem).

The ImageNet ResNet-18 opens with a 7x7 stride-2 convolution and a max-pool; for 32x32 images
the CIFAR variant uses a single 3x3 stride-1 convolution and no pooling, then four stages of
two basic blocks with widths w, 2w, 4w, 8w (w = 64 in the paper's model: 11,173,962
parameters for 10 classes) and strides 1, 2, 2, 2, global average pooling and one linear layer.

    x: [N, 3, H, W] float  ->  logits: [N, classes]      (features: [N, 8w])

`dropout` (off by default) sits between the pooled features and the classifier; BALD's
MC-dropout needs it (Gal et al., 2017). `width` shrinks every stage for quick CPU runs.
"""
import copy
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from files import FileError, brief, load_run_config, load_torch


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)  # in place: one allocation fewer
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNet18(nn.Module):
    def __init__(self, num_classes=10, width=64, dropout=0.0):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, in_channels = [], width
        for multiplier, stride in [(1, 1), (2, 2), (4, 2), (8, 2)]:
            out_channels = width * multiplier
            stages += [BasicBlock(in_channels, out_channels, stride),
                       BasicBlock(out_channels, out_channels, 1)]
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels, num_classes)
        self.feature_dim = in_channels

    def features(self, x):
        """Penultimate features (after global average pooling): [N, 8w]."""
        out = self.stages(self.stem(x))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, x, return_features=False):
        features = self.features(x)
        # The classifier runs in float32 even under bfloat16 autocast: bf16 logits (8 bits of
        # mantissa) would round near-ties and change the argmax that label-dispersion records.
        with torch.autocast(features.device.type, enabled=False):
            logits = self.classifier(self.dropout(features.float()))
        return (logits, features) if return_features else logits


def build_model(num_classes, width=64, dropout=0.0):
    return ResNet18(num_classes=num_classes, width=width, dropout=dropout)


def fuse_batchnorm(model):
    """An eval-mode copy of `model` for prediction, with each BatchNorm folded into its convolution.
    Speed only: the plain equivalent is `model.eval()` under `torch.no_grad()`.

    In eval mode BatchNorm is a fixed per-channel affine map, so conv -> BN equals one convolution
    with rescaled weights and a bias: the same function (up to float rounding) with one pass over
    memory fewer per layer. `model` itself is left untouched; the copy must not be trained.
    """
    fused = copy.deepcopy(model).eval()
    fused.stem[0], fused.stem[1] = fuse_conv_bn_eval(fused.stem[0], fused.stem[1]), nn.Identity()
    for block in fused.stages:
        block.conv1, block.bn1 = fuse_conv_bn_eval(block.conv1, block.bn1), nn.Identity()
        block.conv2, block.bn2 = fuse_conv_bn_eval(block.conv2, block.bn2), nn.Identity()
        if len(block.shortcut):
            block.shortcut[0], block.shortcut[1] = fuse_conv_bn_eval(*block.shortcut), nn.Identity()
    return fused


def load_model(run_dir, device="cpu"):
    """Rebuild the network a train.py run folder describes (config.json) with its weights (model.pt).

    The weights are read to the CPU first, then moved; a damaged or mismatched file is one FileError line.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir / "config.json", "num_classes", "width", "dropout")
    model = build_model(config["num_classes"], config["width"], config["dropout"])
    weights = run_dir / "model.pt"
    remedy = f"delete {run_dir} and train it again"
    if not weights.is_file():
        raise FileError(f"{weights}: file not found (did train.py finish?)")
    state = load_torch(weights, remedy)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as e:
        raise FileError(f"{weights}: not weights of the model described in config.json "
                        f"({brief(e)}); {remedy}") from None
    return model.to(device).eval()
