"""The SDF multilayer perceptron of Davies et al.: N fully connected layers of width H.

Default (the paper's): 8 hidden layers × 32, ReLU, tanh output — 7,553 parameters. Options
from the paper's Appendix A.3: SIREN activations (Sitzmann et al.) and a NeRF-style
positional encoding of the input.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from ..errors import FormatError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["Architecture", "SdfMLP", "build_mlp", "mlp_from_tensors"]

#: SIREN's frequency factor ω0 (Sitzmann et al. 2020).
SIREN_OMEGA = 30.0


@dataclass(frozen=True)
class Architecture:
    """What fixes an :class:`SdfMLP`'s shape; stored in every implicit file's header.

    Attributes
    ----------
    layers : int
        Number of hidden layers (each ``width`` wide); the network has ``layers + 1`` linear maps.
    width : int
        Hidden size.
    activation : str
        ``"relu"`` or ``"siren"``.
    encoding : str
        ``"none"`` or ``"positional"`` (sin/cos of ``2^k π x`` for k < ``frequencies``).
    frequencies : int
        Octaves of the positional encoding (ignored for ``"none"``).
    """

    layers: int = 8
    width: int = 32
    activation: str = "relu"
    encoding: str = "none"
    frequencies: int = 6

    #: Bounds a file may declare; they keep a hostile header from allocating without bound.
    LIMITS = {"layers": (1, 64), "width": (1, 1024), "frequencies": (1, 16)}

    def __post_init__(self):
        for key, (lo, hi) in self.LIMITS.items():
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise InputError(f"architecture: {key} must be an integer in [{lo}, {hi}], got {v!r}")
        if self.activation not in ("relu", "siren"):
            raise InputError(f"architecture: activation must be relu or siren, got {self.activation!r}")
        if self.encoding not in ("none", "positional"):
            raise InputError(f"architecture: encoding must be none or positional, got {self.encoding!r}")

    @property
    def input_dim(self) -> int:
        return 3 if self.encoding == "none" else 3 + 6 * self.frequencies

    def tensor_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the parameters in storage order: W0 (out, in), b0 (out,), W1, b1, …"""
        dims = [self.input_dim] + [self.width] * self.layers + [1]
        shapes: list[tuple[int, ...]] = []
        for i, o in zip(dims[:-1], dims[1:]):
            shapes += [(o, i), (o,)]
        return shapes

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(s) for s in self.tensor_shapes())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> Architecture:
        """From an untrusted header value; :class:`FormatError` when malformed."""
        if not isinstance(d, dict) or set(d) != set(cls.__dataclass_fields__):
            raise FormatError(
                f"header 'architecture' must have exactly the keys {sorted(cls.__dataclass_fields__)}"
            )
        try:
            return cls(**d)
        except InputError as exc:
            raise FormatError(str(exc)) from None


def build_mlp(arch: Architecture):
    """A freshly initialized :class:`SdfMLP` (torch is imported only here)."""
    return SdfMLP(arch)


def _torch_module_base() -> type[torch.nn.Module]:
    import torch

    return torch.nn.Module


if TYPE_CHECKING:  # pragma: no cover
    _ModuleBase = torch.nn.Module
else:
    _ModuleBase = _torch_module_base()


class SdfMLP(_ModuleBase):
    """``f(x) = tanh(W_L σ(… σ(W_0 γ(x) + b_0) …) + b_L)``, ``x`` in the normalized frame.

    Parameters
    ----------
    arch : Architecture
        Depth, width, activation, encoding.

    Notes
    -----
    Input ``(n, 3) float32`` points, output ``(n,) float32`` signed distances in normalized units
    (negative inside); tanh bounds them to (-1, 1), which covers every distance that matters
    inside the [-1, 1]^3 cube near the surface.
    """

    def __init__(self, arch: Architecture):
        import torch

        super().__init__()
        self.arch = arch
        dims = [arch.input_dim] + [arch.width] * arch.layers + [1]
        self.linears = torch.nn.ModuleList(torch.nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))
        if arch.encoding == "positional":
            self.register_buffer("freqs", (2.0 ** torch.arange(arch.frequencies)) * math.pi, persistent=False)
        if arch.activation == "siren":
            self._init_siren()

    def _init_siren(self):
        import torch

        with torch.no_grad():
            for k, lin in enumerate(self.linears):
                fan_in = lin.in_features
                bound = 1.0 / fan_in if k == 0 else math.sqrt(6.0 / fan_in) / SIREN_OMEGA
                lin.weight.uniform_(-bound, bound)

    def geometric_init(self, radius: float = 0.5) -> SdfMLP:
        """Start as the signed distance of a sphere of ``radius`` (geometric initialization).

        Atzmon & Lipman (SAL, 2020): hidden weights ~ N(0, 2/width), zero biases, last layer
        ~ N(sqrt(π/width), 10⁻⁴) with bias −radius, so that ``f(x) ≈ |x| − radius`` at the start
        (ReLU only); the positional encoding's sin/cos inputs start with zero weights so the
        network starts smooth and takes on frequencies as training needs them. In place.
        """
        import torch

        if self.arch.activation != "relu":
            return self
        linears = cast("list[torch.nn.Linear]", list(self.linears))
        last = len(linears) - 1
        with torch.no_grad():
            for k, lin in enumerate(linears):
                if k == last:
                    torch.nn.init.normal_(lin.weight, math.sqrt(math.pi / lin.in_features), 1e-4)
                    lin.bias.fill_(-radius)
                else:
                    torch.nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / lin.out_features))
                    lin.bias.zero_()
                if k == 0 and self.arch.encoding == "positional":
                    lin.weight[:, 3:] = 0.0
        return self

    def encode(self, x):
        import torch

        if self.arch.encoding == "none":
            return x
        xf = x[..., None] * self.freqs  # (n, 3, F)
        return torch.cat([x, torch.sin(xf).flatten(-2), torch.cos(xf).flatten(-2)], dim=-1)

    def forward(self, x, params=None):
        """Evaluate at ``x (n, 3)``; ``params`` optionally replaces the weights (fake-quantized)."""
        import torch

        h = self.encode(x)
        tensors = (
            params if params is not None else [t for lin in self.linears for t in (lin.weight, lin.bias)]
        )
        last = len(self.linears) - 1
        for k in range(len(self.linears)):
            h = torch.nn.functional.linear(h, tensors[2 * k], tensors[2 * k + 1])
            if k == last:
                break
            h = torch.sin(SIREN_OMEGA * h) if self.arch.activation == "siren" else torch.relu(h)
        return torch.tanh(h[..., 0])

    def tensors(self):
        """The parameters in storage order (see :meth:`Architecture.tensor_shapes`)."""
        return [t for lin in self.linears for t in (lin.weight, lin.bias)]

    def equalize_ranges(self, sweeps: int = 20) -> SdfMLP:
        """Rescale hidden units so per-tensor quantization loses less; the function is unchanged.

        ReLU is positively homogeneous (``relu(a·z) = a·relu(z)`` for ``a > 0``), so dividing
        hidden unit j's incoming weights and bias by ``s_j`` and multiplying its outgoing weights
        by ``s_j`` leaves ``f`` exactly as it was. With ``s_j = sqrt(r_in / r_out)`` (the largest
        |weight or bias| of the unit's row in this layer and of its column in the next) both become
        ``sqrt(r_in · r_out)``: no unit keeps a tiny range that one shared step per tensor would
        round away (cross-layer equalization, Nagel et al. 2019). A few sweeps converge.
        Only for ReLU networks (a no-op for SIREN). In place; returns ``self``.
        """
        import torch

        if self.arch.activation != "relu":
            return self
        with torch.no_grad():
            linears = cast("list[torch.nn.Linear]", list(self.linears))
            for _ in range(sweeps):
                for inner, outer in zip(linears[:-1], linears[1:]):
                    r_in = torch.maximum(inner.weight.abs().amax(dim=1), inner.bias.abs()).clamp_min(1e-12)
                    r_out = outer.weight.abs().amax(dim=0).clamp_min(1e-12)
                    s = torch.sqrt(r_in / r_out)
                    inner.weight.div_(s[:, None])
                    inner.bias.div_(s)
                    outer.weight.mul_(s[None, :])
        return self


def mlp_from_tensors(arch: Architecture, tensors: list[np.ndarray]) -> SdfMLP:
    """An :class:`SdfMLP` holding the given float tensors (storage order)."""
    import torch

    model = SdfMLP(arch)
    with torch.no_grad():
        for param, value in zip(model.tensors(), tensors):
            param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
    return model.eval()
