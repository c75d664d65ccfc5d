"""DOAM, the De-occlusion Attention Module, put in front of the detector's backbone.

After Wei et al., "Occluded Prohibited Items Detection: An X-ray Security Inspection
Benchmark and De-occlusion Attention Module" (ACM MM 2020; arXiv 2004.08656), as the
authors' released code builds it (github.com/OPIXray-author/OPIXray,
``DOAM/De_Occlusion_Attention_Module.py``; ``DOAM/ssd.py`` applies it to the input image,
before the first VGG layer, and feeds VGG the refined image). The paper's observation: in an
X-ray scan overlapping items hide each other's texture but keep their outlines and their
material (colour), so DOAM builds an attention map from the two and refines the image with it.

- Edge Guidance (EG): fixed Sobel filters, horizontal and vertical, give an edge image
  E = sqrt(G_h^2 + G_v^2); five 3x3 convolutions (1 -> 8 -> 16 -> 16 -> 8 -> 1) turn it into
  an edge feature map.
- Material Awareness (MA): the colour image with E appended as a fourth channel, through
  five 3x3 convolutions (4 -> 8 -> 16 -> 32 -> 16 -> 8): material cues from the colours.
- Regional attention (the released code's ``RIA``): each pixel's MA features beside their
  averages over square regions of three sizes (three receptive fields), each pair fused by a
  3x3 convolution, the three results through a gated convolution (Yu et al., ICCV 2019:
  features times sigmoid(gate)), which weighs each region size per pixel and channel.
- Attention and refinement: EG and regional features concatenated, a 3x3 convolution and a
  sigmoid give the attention map A (N, 1, H, W); the refined image is
  gamma * (A * I) + (1 - gamma) * I with a learned scalar gamma (the released code's last line).

Cost: 23.7 k parameters, but every layer runs at full input resolution: 4.8 GFLOPs at
320 x 320, six times the whole CSP-Darknet nano detector (0.81), and about 145 ms per image on
one CPU thread in PyTorch (100 ms in ONNX Runtime) against the nano detector's 14 ms.

Where this differs from the released code, and why:

- gamma starts at 0 (as released), so at initialisation the module is exactly the identity
  and a detector fine-tuned from weights trained without DOAM (``lanewatch train --init
  W --doam``) starts as that detector. Its other parameters receive gradients once gamma
  has moved off 0, after the first optimiser step.
- The refined image keeps the input's channels. The released code returns the image with E
  as a fourth channel and widens VGG's first convolution to four; ours feeds backbones
  (ImageNet-pretrained EfficientNet-Lite0 among them) and checkpoints that take three, and
  the edges reach the detector through A.
- E is scaled by a fixed 1/4 (a 0 -> 1 step reads 1), not min-max normalised over the
  batch: a scan's attention must not depend on the scans batched with it, nor on one bright
  scanner artefact line elsewhere in it. It is taken from every input channel (the largest
  response; the released code uses one), so edges of the dual-energy form's material
  channel count too, and the image is edge-padded so that its border is not an edge.
- An activation follows each convolution of the EG and MA stacks, which start from He
  initialisation; the released code has no activation there, which makes each five-layer
  stack a single linear 11x11 filter, and PyTorch's default initialisation, under which a
  stack's output varies about 500 times less than its input.
- The regions are windows of 5, 11 and 15 pixels centred on each pixel (a sliding average,
  borders averaged over the pixels inside the image), not the released code's fixed grid of
  5, 10 and 15 pixel blocks (adaptive pooling of a 300 px input to 60, 30 and 20 cells): any
  input size works (task-driven cropping runs the network at sides that are multiples of 2),
  a bag's attention does not change with where the block grid falls on it, and the graph
  exports with free height and width. 10 became 11 so that the window centres on its pixel.
- DOAM-O (arXiv 2103.00809) is DOAM trained with hard samples over-sampled: the trainer's
  ``oversample_hard`` (``--oversample-hard``), not part of this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import ACTIVATIONS, ActFactory

# 3x3 Sobel kernels as in the released code: a vertical gradient (horizontal edges) and its transpose.
_SOBEL_H = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))
# The Sobel response to a unit step (1 + 2 + 1): E reads 1 across a 0 -> 1 edge.
_SOBEL_GAIN = 4.0


def _conv_stack(widths: Sequence[int], act: ActFactory, *, last_act: bool = True) -> nn.Sequential:
    """3x3 convolutions through ``widths`` (c_in, c_1, ..., c_out), each but (without ``last_act``) the last followed by ``act``."""
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        # He init: measured over the MA stack (SiLU), the output's std is 0.3-0.45 of the input's;
        # with PyTorch's default init 0.002
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers.append(conv)
        if last_act or i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class GatedConv(nn.Module):
    """Gated convolution (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019), then BatchNorm.

    (N, c_in, H, W) -> (N, c_out, H, W): conv_f(x) * sigmoid(conv_g(x)), no activation on the
    features, as the released ``GatedConv2dWithActivation(activation=None)``.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.features = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.gate = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm = nn.BatchNorm2d(c_out)
        for conv in (self.features, self.gate):
            nn.init.kaiming_normal_(conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.features(x) * torch.sigmoid(self.gate(x)))


class RegionMean(nn.Module):
    """Mean over the k x k window centred on each pixel (k odd), over the pixels inside the image: (N, c, H, W) kept.

    Window sums by two depthwise convolutions with fixed all-ones kernels (a row, then a column),
    divided by the window's pixel count (the same sums over an all-ones image). Measured at 320 x 320,
    8 channels, one thread: 5-15 ms per window size; ``avg_pool2d`` with stride 1 took 20-30 ms.
    """

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        if k % 2 == 0:
            raise ValueError(f"the window must be odd-sized (centred on a pixel), got {k}")
        self.k = k
        # fixed kernels, whole (not sliced per call) so that exported graphs hold them as constants
        self.register_buffer("row", torch.ones(c, 1, 1, k), persistent=False)
        self.register_buffer("col", torch.ones(c, 1, k, 1), persistent=False)
        self.register_buffer("unit_row", torch.ones(1, 1, 1, k), persistent=False)  # for the pixel counts
        self.register_buffer("unit_col", torch.ones(1, 1, k, 1), persistent=False)

    def _sums(self, x: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        r = self.k // 2
        x = F.conv2d(x, row, padding=(0, r), groups=row.shape[0])
        return F.conv2d(x, col, padding=(r, 0), groups=col.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = self._sums(torch.ones_like(x[:, :1]), self.unit_row, self.unit_col)  # (N, 1, H, W)
        return self._sums(x, self.row, self.col) / counts


class RegionalAttention(nn.Module):
    """(N, c, H, W) -> (N, c_out, H, W).

    Per region size k: the map beside its k x k window means (`RegionMean`), fused by a 3x3
    conv to ``c``; the branches concatenated through a `GatedConv`.
    """

    def __init__(self, c: int, c_out: int, *, regions: Sequence[int] = (5, 11, 15)) -> None:
        super().__init__()
        self.regions = tuple(regions)
        self.means = nn.ModuleList(RegionMean(c, k) for k in self.regions)
        self.fuse = nn.ModuleList(nn.Conv2d(2 * c, c, 3, padding=1) for _ in self.regions)
        self.gated = GatedConv(c * len(self.regions), c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = []
        for mean, fuse in zip(self.means, self.fuse, strict=True):
            branches.append(fuse(torch.cat((x, mean(x)), dim=1)))
        return self.gated(torch.cat(branches, dim=1))


class DOAM(nn.Module):
    """(N, C, H, W) float image in [0, 1] -> refined image, same shape and dtype.

    See the module docstring for the structure and its sources. ``attention(x)`` gives the map
    A (N, 1, H, W) in (0, 1) and ``edges(x)`` the Sobel edge image E (N, 1, H, W). It is the
    identity at initialisation (``gamma`` = 0).
    """

    def __init__(
        self, in_channels: int = 3, *, regions: Sequence[int] = (5, 11, 15), act: ActFactory = ACTIVATIONS["silu"]
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.regions = tuple(regions)
        sobel_h = torch.tensor(_SOBEL_H)
        # (C, 1, 3, 3) each, applied per channel (groups=C); fixed, so not saved with the weights
        self.register_buffer("sobel_h", sobel_h.expand(in_channels, 1, 3, 3).clone(), persistent=False)
        self.register_buffer("sobel_v", sobel_h.t().expand(in_channels, 1, 3, 3).clone(), persistent=False)
        self.edge_guidance = _conv_stack((1, 8, 16, 16, 8, 1), act, last_act=False)  # EG
        self.material = _conv_stack((in_channels + 1, 8, 16, 32, 16, 8), act)  # MA
        self.regional = RegionalAttention(8, 8, regions=self.regions)
        self.to_attention = nn.Conv2d(8 + 1, 1, 3, padding=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def edges(self, x: torch.Tensor) -> torch.Tensor:
        """Sobel edge magnitude, largest over the channels, 1 across a 0 -> 1 step: (N, C, H, W) -> (N, 1, H, W)."""
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")  # the image's border is no edge
        g_h = F.conv2d(padded, self.sobel_h, groups=self.in_channels)
        g_v = F.conv2d(padded, self.sobel_v, groups=self.in_channels)
        # eps: sqrt's gradient is infinite at 0, in flat areas
        magnitude = torch.sqrt(g_h * g_h + g_v * g_v + 1e-8)
        return magnitude.amax(dim=1, keepdim=True) / _SOBEL_GAIN

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map A: (N, C, H, W) -> (N, 1, H, W) in (0, 1)."""
        e = self.edges(x)
        edge_features = self.edge_guidance(e)  # (N, 1, H, W)
        regional = self.regional(self.material(torch.cat((x, e), dim=1)))  # (N, 8, H, W)
        return torch.sigmoid(self.to_attention(torch.cat((regional, edge_features), dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # gamma * (A * x) + (1 - gamma) * x, written as one product
        return x * (1 + self.gamma * (self.attention(x) - 1))
