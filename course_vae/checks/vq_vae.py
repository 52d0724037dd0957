"""Checker of chapter 8's exercise: the forward pass of a vector quantizer.

The student writes ``vq_forward(z_e, codebook, beta) -> (z_q, indices, loss)`` for
encoder outputs ``z_e (B, D, H, W)`` and a codebook ``(K, D)``:

* ``indices (B, H, W)``: the nearest code (squared Euclidean distance) of each vector
  ``z_e[b, :, h, w]``;
* ``z_q (B, D, H, W)``: the chosen codes, with the straight-through gradient (the
  gradient w.r.t. ``z_e`` is the identity; no gradient reaches the codebook through
  ``z_q``);
* ``loss``: ``mean (sg[z_e] - e)^2 + beta * mean (z_e - sg[e])^2``, means over all
  ``B * D * H * W`` entries.

The loss's two terms have the same value and differ only in their gradients, so the
checker measures the gradient of the loss w.r.t. ``z_e`` and w.r.t. the codebook as
multiples ``a`` and ``b`` of the directions ``2 (z_e - e) / n`` and
``2 (e - z_e) / n`` (summed per code): the right loss has ``a = beta``, ``b = 1``, and each
misplaced stop-gradient or ``beta`` gives its own pair.
"""

from __future__ import annotations

import math

import torch

from .core import (
    F32,
    F64,
    RTOL,
    CheckFailed,
    call,
    expect_close,
    expect_dtype,
    expect_gradients,
    expect_unchanged,
    passed,
    snapshot,
    student_gradient,
    weights_like,
)

GRID_AXES = ("example", "row", "column")
Z_AXES = ("example", "channel", "row", "column")

VQ_HINTS = [
    ("mat1 and mat2 shapes cannot be multiplied",
     "A matrix product got vectors of the wrong length: the vectors to compare with the codes are z_e[b, :, h, w], "
     "so move the channel axis last and flatten, z_e.permute(0, 2, 3, 1).reshape(-1, D), before multiplying with "
     "codebook.T."),
    ("The size of tensor a",
     "Two tensors of different sizes were broadcast together: the vectors compared with the codes are "
     "z_e[b, :, h, w] (D entries each, channel axis 1 of z_e); bring them to (N, D) or (B, H, W, D) first."),
    ("X1 and X2 must have the same number of columns",
     "torch.cdist compares rows of length D: give it z_e's vectors as rows, z_e.permute(0, 2, 3, 1).reshape(-1, D)."),
    ("out of bounds for dimension 0 with size",
     "An index into the codebook is not a code number in [0, K): the argmin must run over the K codes, the axis of "
     "length K of the distances (dim=1 of an (N, K) matrix), once per vector; argmin without dim= or over the "
     "vectors' axis gives positions, not codes."),
    ("is invalid for input of size",
     "A reshape got the wrong number of entries: there is one index and one code per vector z_e[b, :, h, w], "
     "B * H * W of them; check that the argmin ran over the K codes (dim=1 of the (N, K) distances) and kept one "
     "result per vector."),
]

def _vectors(z_e: torch.Tensor) -> torch.Tensor:
    """``(B, D, H, W) -> (B * H * W, D)`` in float64."""
    return z_e.detach().to(F64).permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])

def _distances(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Exact float64 squared distances ``(N, K)`` (no expansion, no cancellation)."""
    return (vectors[:, None, :] - codebook.detach().to(F64)[None]).pow(2).sum(-1)

def _case(g: torch.Generator, batch: int, dim: int, height: int, width: int, codes: int, dtype: torch.dtype):
    """A codebook of well separated codes and encoder outputs scattered around some of them."""
    codebook = torch.randn(codes, dim, generator=g, dtype=F64) * 2
    chosen = torch.randint(0, codes, (batch, height, width), generator=g)
    noise = torch.randn(batch, height, width, dim, generator=g, dtype=F64)
    z_e = (codebook[chosen] + 0.6 * noise).permute(0, 3, 1, 2).contiguous()
    return z_e.to(dtype).requires_grad_(True), codebook.to(dtype).requires_grad_(True)

def _unpack(out: object, name: str) -> tuple:
    __tracebackhide__ = True
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        got = f"a {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        raise CheckFailed(f"{name} should return the three values (z_q, indices, loss), got {got}")
    return tuple(out)

def _check_indices(indices: object, z_e: torch.Tensor, codebook: torch.Tensor, name: str, probe: str) -> torch.Tensor:
    """The indices are integers of shape (B, H, W), each the nearest code; return them as int64."""
    __tracebackhide__ = True
    where = f" [probe: {probe}]"
    batch, dim, height, width = z_e.shape
    codes = codebook.shape[0]
    if not isinstance(indices, torch.Tensor):
        raise CheckFailed(f"{name}: indices should be a torch.Tensor, got {type(indices).__name__}{where}")
    if indices.is_floating_point() or indices.dtype == torch.bool:
        raise CheckFailed(f"{name}: indices should hold integer code numbers (argmin gives int64), got "
                          f"{str(indices.dtype).replace('torch.', '')}{where}")
    if tuple(indices.shape) != (batch, height, width):
        hint = (" reshape the flat indices back to the grid, indices.reshape(B, H, W)"
                if indices.numel() == batch * height * width else
                " one code number per position of the grid, that is per vector z_e[b, :, h, w]")
        raise CheckFailed(f"{name}: indices has shape {tuple(indices.shape)}, expected ({batch}, {height}, {width}):"
                          f"{hint}{where}")
    idx = indices.long()
    if idx.min() < 0 or idx.max() >= codes:
        raise CheckFailed(f"{name}: indices must be code numbers in [0, {codes}) for a codebook of {codes} codes, got "
                          f"values in [{int(idx.min())}, {int(idx.max())}]: take the argmin over the codes (the "
                          f"axis of length K){where}")
    dist = _distances(_vectors(z_e), codebook)  # (N, K)
    chosen = dist.gather(1, idx.reshape(-1, 1)).squeeze(1)
    best = dist.min(1).values
    tol = 10 * RTOL[z_e.dtype] * float(dist.max())
    if bool((chosen <= best + tol).all()):
        return idx
    if bool((chosen >= dist.max(1).values - tol).all()):
        raise CheckFailed(f"{name}: every index is the FARTHEST code: take the argmin of the distances, not the "
                          f"argmax (or the argmax of their negatives){where}")
    scrambled = z_e.detach().to(F64).reshape(-1, dim)  # channels not moved last: vectors mix channels and positions
    wrong = _distances(scrambled, codebook).argmin(1)
    if torch.equal(wrong, idx.reshape(-1)):
        raise CheckFailed(f"{name}: the vectors you compared with the codes are not z_e[b, :, h, w]: z_e.reshape(-1, "
                          f"D) or z_e.view(-1, D) on a (B, D, H, W) tensor cuts the memory into rows that mix "
                          f"channels of neighbouring positions. Move the channel axis last first, "
                          f"z_e.permute(0, 2, 3, 1).reshape(-1, D){where}")
    vectors = _vectors(z_e)
    codes64 = codebook.detach().to(F64)
    if torch.equal((vectors @ codes64.t()).argmax(1), idx.reshape(-1)):
        raise CheckFailed(f"{name}: you chose the code with the largest dot product z.e_j (or dropped the ||e_j||^2 "
                          f"term of the expanded distance): that is the nearest code only when all codes have the "
                          f"same length. Keep every term of ||z - e_j||^2 = ||z||^2 - 2 z.e_j + ||e_j||^2{where}")
    if torch.equal(torch.cdist(vectors, codes64, p=1).argmin(1), idx.reshape(-1)):
        raise CheckFailed(f"{name}: you chose the nearest code in L1 distance (the sum of absolute differences); "
                          f"the quantizer uses the squared Euclidean distance, the sum over the D channels of the "
                          f"squared differences{where}")
    if torch.equal(dist.argmin(1).sort().values, idx.reshape(-1).sort().values):
        raise CheckFailed(f"{name}: your indices hold the right codes, but at the wrong positions of the grid: "
                          f"indices[b, h, w] must be the code of z_e[b, :, h, w]. Flatten the vectors in the order "
                          f"(example, row, column), z_e.permute(0, 2, 3, 1).reshape(-1, D), and undo it with "
                          f".reshape(B, H, W); a transpose or another permute order puts codes at other "
                          f"positions{where}")
    bad = int((chosen > best + tol).nonzero()[0])
    b, rest = divmod(bad, height * width)
    h, w = divmod(rest, width)
    k, j = int(idx.reshape(-1)[bad]), int(dist[bad].argmin())
    raise CheckFailed(f"{name}: at example {b}, row {h}, column {w} you chose code {k}, at squared distance "
                      f"{float(chosen[bad]):.4g} from z_e[{b}, :, {h}, {w}], but code {j} is nearer "
                      f"({float(best[bad]):.4g}). The distance between a vector and a code sums the squared "
                      f"differences over the D channels (axis 1 of z_e, axis 1 of the codebook), then the argmin "
                      f"runs over the K codes; expanded, ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2{where}")

def _check_z_q(z_q: object, z_e: torch.Tensor, codebook: torch.Tensor, idx: torch.Tensor, name: str, probe: str,
               g: torch.Generator) -> None:
    __tracebackhide__ = True
    where = f" [probe: {probe}]"
    batch, dim, height, width = z_e.shape
    if not isinstance(z_q, torch.Tensor) or not z_q.is_floating_point():
        raise CheckFailed(f"{name}: z_q should be a floating-point torch.Tensor, got "
                          f"{getattr(z_q, 'dtype', type(z_q).__name__)}{where}")
    if tuple(z_q.shape) != tuple(z_e.shape):
        if tuple(z_q.shape) == (batch, height, width, dim):
            hint = "the codes are channels-last (B, H, W, D): put the channel axis back, .permute(0, 3, 1, 2)"
        elif tuple(z_q.shape) == (batch * height * width, dim):
            hint = "reshape the (N, D) codes back to the grid and put the channels at axis 1"
        else:
            hint = "z_q has z_e's shape, one D-vector per position"
        raise CheckFailed(f"{name}: z_q has shape {tuple(z_q.shape)}, expected {tuple(z_e.shape)}: {hint}{where}")
    expect_dtype(z_q, z_e.dtype, f"{name}: z_q")
    expected = codebook.detach().to(F64)[idx].permute(0, 3, 1, 2)
    expect_close(z_q, expected, f"{name}: z_q", dtype=z_e.dtype, probe=probe, axes=Z_AXES, known_mistakes=[
        (z_e.detach(), "z_q equals z_e: its forward value must be the chosen code, codebook[k]; only its GRADIENT "
                       "is that of z_e (straight-through). code + (z_e - code).detach() has z_e's value: the "
                       "detached part is the difference code - z_e, z_e + (code - z_e).detach()"),
        (codebook.detach().to(F64)[idx].reshape(batch, dim, height, width),
         "the codes looked up per position are (B, H, W, D), channels last; .reshape(B, D, H, W) mixes channels "
         "and positions: reshape to (B, H, W, D), then move the channels to axis 1 with .permute(0, 3, 1, 2)"),
        *[(wrong, "z_q's value must be the code: in z_e + (code - z_e).detach() the two z_e cancel in the forward "
                  "pass; check the signs") for wrong in (2 * z_e.detach() - expected, 2 * z_e.detach() + expected)]])
    weights = weights_like(z_q, g)
    grad_z, grad_e = student_gradient(z_q, [z_e, codebook], weights, f"{name}: z_q")
    if grad_z is None or not bool(grad_z.detach().any()):
        raise CheckFailed(f"{name}: no gradient flows from z_q back to z_e, so the reconstruction loss cannot train "
                          f"the encoder (the nearest-code lookup has no gradient). Use the straight-through "
                          f"estimator: a value equal to the code, a gradient equal to z_e's, e.g. "
                          f"z_e + (code - z_e).detach(), with the z_e you were given (not z_e.detach()){where}")
    expect_close(grad_z, weights, f"{name}: z_q", what="gradient with respect to z_e (straight-through: the "
                 "identity)", dtype=z_e.dtype, probe=probe, axes=Z_AXES)
    if grad_e is not None and bool(grad_e.detach().any()):
        raise CheckFailed(f"{name}: z_q also sends the decoder's gradient into the codebook; in the VQ-VAE the codes "
                          f"learn only from the codebook term of the loss. Detach the code inside z_q: "
                          f"z_e + (code - z_e).detach(){where}")

def _near(value: float, target: float) -> bool:
    return abs(value - target) <= 1e-3 * max(1.0, abs(target))

def _loss_diagnosis(a: float, b: float, beta: float) -> str | None:
    """Name the slip behind measured gradient factors (a for z_e, b for the codebook)."""
    if _near(a, beta) and _near(b, 1.0):
        return None
    if _near(a, 1.0) and _near(b, beta):
        return ("beta weights the codebook term: it belongs on the commitment term, "
                "||sg[z_e] - e||^2 + beta * ||z_e - sg[e]||^2")
    if _near(b, 0.0) and _near(a, beta - 1.0):
        return ("the codebook term is computed with the straight-through z_q instead of the code e = codebook[k]: its "
                "gradient goes to z_e (with a minus sign) and the codebook gets none. Write both terms with the code")
    if _near(b, 0.0) and _near(a, beta):
        return ("the codebook gets no gradient from the loss, though z_e's gradient is right: the code e was cut "
                "from the codebook's graph (looked up under torch.no_grad(), from codebook.detach() or .data, or "
                "through numpy). The distances and the argmin need no gradient, but take the code as "
                "codebook[indices] with gradients on")
    if _near(b, 0.0) and _near(a, 1.0 + beta):
        return ("the codebook gets no gradient from the loss: in the codebook term ||sg[z_e] - e||^2 the stop-"
                "gradient (.detach()) goes on z_e, and the code e = codebook[k] keeps its gradient")
    if _near(b, 0.0):
        return ("the codebook gets no gradient from the loss: write both terms with the code e = codebook[k] (not "
                "the straight-through z_q, whose gradient goes to z_e only), detaching z_e in the codebook term "
                "||sg[z_e] - e||^2")
    if _near(a, 0.0):
        return ("z_e gets no gradient from the loss, so nothing keeps the encoder's outputs near their codes: the "
                "commitment term beta * ||z_e - sg[e]||^2 detaches the code, not z_e (and z_e - z_q with the "
                "straight-through z_q has zero gradient: use the code)")
    if _near(a, 1.0 + beta) and _near(b, 1.0 + beta):
        return ("neither term has a stop-gradient: both move z_e and the codebook. Detach z_e in the codebook term "
                "and the code in the commitment term")
    if _near(a, 1.0 + beta):
        return ("the codebook term also pulls z_e towards the code: detach z_e in it, ||sg[z_e] - e||^2")
    if _near(b, 1.0 + beta):
        return ("the commitment term also moves the code: detach the code in it, beta * ||z_e - sg[e]||^2")
    return (f"the loss's gradient is {a:.4g} x 2 (z_e - e) / n with respect to z_e and {b:.4g} x 2 (e - z_e) / n with "
            f"respect to the codes; the right loss gives beta = {beta:g} and 1: beta on the commitment term (z_e's "
            f"gradient), weight 1 on the codebook term (the codes' gradient)")

def _check_loss(loss: object, z_e: torch.Tensor, codebook: torch.Tensor, idx: torch.Tensor, beta: float, name: str,
                probe: str) -> None:
    __tracebackhide__ = True
    where = f" [probe: {probe}]"
    if not isinstance(loss, torch.Tensor) or not loss.is_floating_point():
        raise CheckFailed(f"{name}: loss should be a floating-point torch.Tensor, got "
                          f"{getattr(loss, 'dtype', type(loss).__name__)}{where}")
    if loss.dim() != 0:
        raise CheckFailed(f"{name}: loss has shape {tuple(loss.shape)}; it should be one number (0-dimensional), the "
                          f"means over all B * D * H * W entries{where}")
    expect_dtype(loss, z_e.dtype, f"{name}: loss")
    z64 = z_e.detach().to(F64).requires_grad_(True)
    e64 = codebook.detach().to(F64).requires_grad_(True)
    code = e64[idx].permute(0, 3, 1, 2)
    codebook_term = (z64.detach() - code).pow(2).mean()
    commitment_term = (z64 - code.detach()).pow(2).mean()
    reference = codebook_term + beta * commitment_term
    mse = float(codebook_term.detach())
    dim = z_e.shape[1]
    n = z_e.numel()
    mistakes = [
        (reference * n, "the squared distances are summed; take the mean over all B * D * H * W entries "
                        "(F.mse_loss's default)"),
        (reference * dim, "the squared distance of each vector is summed over its D channels and then averaged over "
                          "the positions; take the mean over all B * D * H * W entries"),
        (reference * z_e.shape[0], "each example's mean is summed over the batch; take the mean over all "
                                   "B * D * H * W entries, the batch included"),
        (reference * (n // z_e.shape[0]), "the squared distances are summed over each example's D * H * W entries "
                                          "and averaged over the batch; take the mean over all B * D * H * W "
                                          "entries"),
        (reference / (1 + beta), "the loss has the value of one term (or its two weights add up to 1, as "
                                 "(1 - beta) and beta would): add the codebook term and beta times the "
                                 "commitment term"),
        (torch.tensor((2 - beta) * mse, dtype=F64), "the commitment term is weighted by 1 - beta: its weight is "
                                                    "beta itself"),
        (torch.tensor(beta * mse, dtype=F64), "the loss has only the commitment term: add the codebook term "
                                              "||sg[z_e] - e||^2"),
        (torch.tensor(2 * mse, dtype=F64), "both terms have weight 1: beta multiplies the commitment term"),
        (torch.tensor(2 * beta * mse, dtype=F64), "beta multiplies both terms: only the commitment term is weighted"),
    ]
    try:
        expect_close(loss, reference, f"{name}: loss", dtype=z_e.dtype, probe=probe, known_mistakes=mistakes)
    except CheckFailed as failure:
        if not str(failure).startswith(f"{name}: loss: wrong values: yours"):
            raise
        ratio = float(loss.detach()) / mse
        raise CheckFailed(f"{name}: wrong loss: yours is {ratio:.4g} times the mean of (z_e - e)^2 over all "
                          f"B * D * H * W entries; the right loss is {1 + beta:g} times it (1 + beta: the two terms "
                          f"have that same value, each a mean of squared differences, not of norms or absolute "
                          f"values, and beta weights the second){where}") from None
    if not loss.requires_grad:
        raise CheckFailed(f"{name}: loss carries no gradient, so it cannot train the codebook or the encoder: keep "
                          f"it a torch computation from z_e and codebook (no .item(), no torch.no_grad()){where}")
    grad_z, grad_e = student_gradient(loss, [z_e, codebook], torch.ones((), dtype=F64), f"{name}: loss")
    want_z, want_e = torch.autograd.grad(reference, [z64, e64], retain_graph=True)
    unit_z = 2 * (z64.detach() - code.detach()) / n  # d/dz_e of mean (z_e - e)^2
    unit_e = torch.autograd.grad(codebook_term, e64)[0]  # d/de of mean (sg[z_e] - e)^2
    got_z = torch.zeros_like(unit_z) if grad_z is None else grad_z.detach().to(F64)
    got_e = torch.zeros_like(unit_e) if grad_e is None else grad_e.detach().to(F64)
    a = float((got_z * unit_z).sum() / (unit_z * unit_z).sum())
    b = float((got_e * unit_e).sum() / (unit_e * unit_e).sum())
    diagnosis = _loss_diagnosis(a, b, beta)
    if diagnosis is not None:
        raise CheckFailed(f"{name}: wrong gradient of the loss: {diagnosis}{where}")
    expect_gradients([grad_z, grad_e], [want_z, want_e], ["z_e", "the codebook"], f"{name}: loss", dtype=z_e.dtype,
                     probe=probe, axes=[Z_AXES, ("code", "channel")])

def vq_forward(fn) -> None:
    """Check ``fn(z_e, codebook, beta) -> (z_q, indices, loss)``, a vector quantizer's forward pass.

    Probes: float64 and float32, grids of 3 x 5, 4 x 4, 1 x 1 and 7 x 7 (the chapter's),
    ``D`` from 2 to 8, ``K`` from 5 to 64, ``beta`` 0.25 and 0.6, a batch of one. Inputs
    must be left unchanged. Nearest codes are checked by their distance (any code at the
    minimal distance passes); ``z_q`` by its values and by the gradients of a weighted sum
    w.r.t. ``z_e`` (the identity) and the codebook (none); ``loss`` by its value and by
    its gradients, whose factors name a misplaced stop-gradient or ``beta``.
    """
    __tracebackhide__ = True
    name = "vq_forward"
    g = torch.Generator().manual_seed(80)
    cases = [  # (probe, batch, D, H, W, K, dtype, beta)
        ("float64, 3 grids of 3 x 5, D = 4, K = 10, beta = 0.25", 3, 4, 3, 5, 10, F64, 0.25),
        ("float32, 2 grids of 4 x 4, D = 2, K = 16, beta = 0.6", 2, 2, 4, 4, 16, F32, 0.6),
        ("float64, a batch of one 1 x 1 grid, D = 3, K = 5, beta = 0.25", 1, 3, 1, 1, 5, F64, 0.25),
        ("float32, 4 grids of 7 x 7 (the chapter's), D = 8, K = 64, beta = 0.25", 4, 8, 7, 7, 64, F32, 0.25),
        ("float64, 2 grids of 2 x 6, D = 5, K = 7, beta = 0.6", 2, 5, 2, 6, 7, F64, 0.6),
    ]
    for probe, batch, dim, height, width, codes, dtype, beta in cases:
        z_e, codebook = _case(g, batch, dim, height, width, codes, dtype)
        copies = snapshot(z_e, codebook)
        out = call(fn, name, z_e, codebook, beta, hints=VQ_HINTS)
        expect_unchanged([z_e, codebook], copies, ["z_e", "codebook"], name)
        z_q, indices, loss = _unpack(out, name)
        if not (z_e.requires_grad and codebook.requires_grad):
            raise CheckFailed(f"{name} switched off requires_grad of its input z_e or codebook (requires_grad_(False) "
                              f"or .requires_grad = False): the caller's tensors must keep their gradients; detach "
                              f"copies instead, z_e.detach()")
        if (isinstance(indices, torch.Tensor) and indices.is_floating_point() and indices.shape == z_e.shape
                and isinstance(z_q, torch.Tensor) and not z_q.is_floating_point()):
            raise CheckFailed(f"{name} returned the indices first: the order is (z_q, indices, loss)")
        idx = _check_indices(indices, z_e, codebook, name, probe)
        _check_z_q(z_q, z_e, codebook, idx, name, probe, g)
        _check_loss(loss, z_e, codebook, idx, beta, name, probe)
    passed(name, f"nearest codes, a straight-through z_q and the codebook and commitment terms with their "
                 f"stop-gradients, on {len(cases)} probes (float32/64, grids 1 x 1 to 7 x 7, K up to 64)")

EXERCISES = {"vq_forward": vq_forward}
