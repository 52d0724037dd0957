"""Chapter 8's checker: the vector quantizer's forward pass, against a catalogue of slips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_vae.checks import definitions
from course_vae.checks import vq_vae as checks
from course_vae.quantizer import nearest_codes

from .checker_harness import assert_accepts, assert_rejects
from .conftest import ROOT


def _flat(z_e):
    return z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])


def _grid(flat, z_e):
    b, d, h, w = z_e.shape
    return flat.reshape(b, h, w, d).permute(0, 3, 1, 2)


def _nearest(z_e, codebook):
    flat = _flat(z_e)
    dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)
    return dist.argmin(1)


def _build(z_e, codebook, beta, idx, *, ste="right", codebook_term="right", commitment_term="right"):
    """Assemble (z_q, indices, loss) from flat indices, with one piece done wrong on request."""
    b, d, h, w = z_e.shape
    code = _grid(codebook[idx], z_e)
    z_q = {"right": lambda: z_e + (code - z_e).detach(),
           "none": lambda: code,
           "undetached": lambda: z_e + (code - z_e),
           "into_codebook": lambda: code + (z_e - z_e.detach()),
           "channels_last": lambda: (z_e + (code - z_e).detach()).permute(0, 2, 3, 1),
           "z_e": lambda: z_e}[ste]()
    cb = {"right": lambda: (z_e.detach() - code).pow(2).mean(),
          "no_sg": lambda: (z_e - code).pow(2).mean(),
          "sg_wrong_side": lambda: (z_e - code.detach()).pow(2).mean(),
          "with_ste": lambda: (z_e.detach() - (z_e + (code - z_e).detach())).pow(2).mean(),
          "absent": lambda: z_e.new_zeros(())}[codebook_term]()
    cm = {"right": lambda: (z_e - code.detach()).pow(2).mean(),
          "no_sg": lambda: (z_e - code).pow(2).mean(),
          "sg_wrong_side": lambda: (z_e.detach() - code).pow(2).mean()}[commitment_term]()
    return z_q, idx.reshape(b, h, w), cb + beta * cm


def _stub(z_e, codebook, beta):
    raise NotImplementedError("Exercise: ...")


def _no_straight_through(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), ste="none")


def _straight_through_not_detached(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), ste="undetached")


def _decoder_gradient_into_codebook(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), ste="into_codebook")


def _returns_z_e(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), ste="z_e")


def _channels_last_z_q(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), ste="channels_last")


def _codebook_term_without_sg(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), codebook_term="no_sg")


def _codebook_term_sg_on_code(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), codebook_term="sg_wrong_side")


def _codebook_term_with_ste(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), codebook_term="with_ste")


def _commitment_without_sg(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), commitment_term="no_sg")


def _commitment_sg_on_z_e(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), commitment_term="sg_wrong_side")


def _no_stop_gradients(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), codebook_term="no_sg", commitment_term="no_sg")


def _commitment_only(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _nearest(z_e, codebook), codebook_term="absent")


def _beta_on_codebook_term(z_e, codebook, beta):
    z_q, idx, _ = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    code = _grid(codebook[idx.reshape(-1)], z_e)
    return z_q, idx, beta * (z_e.detach() - code).pow(2).mean() + (z_e - code.detach()).pow(2).mean()


def _no_beta(z_e, codebook, beta):
    z_q, idx, _ = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    code = _grid(codebook[idx.reshape(-1)], z_e)
    return z_q, idx, (z_e.detach() - code).pow(2).mean() + (z_e - code.detach()).pow(2).mean()


def _summed_loss(z_e, codebook, beta):
    z_q, idx, _ = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    code = _grid(codebook[idx.reshape(-1)], z_e)
    return z_q, idx, (z_e.detach() - code).pow(2).sum() + beta * (z_e - code.detach()).pow(2).sum()


def _per_vector_sum_then_mean(z_e, codebook, beta):
    z_q, idx, _ = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    code = _grid(codebook[idx.reshape(-1)], z_e)
    return z_q, idx, ((z_e.detach() - code).pow(2).sum(1).mean()
                      + beta * (z_e - code.detach()).pow(2).sum(1).mean())


def _farthest_code(z_e, codebook, beta):
    flat = _flat(z_e)
    return _build(z_e, codebook, beta, torch.cdist(flat, codebook).argmax(1))


def _reshape_without_permute(z_e, codebook, beta):
    flat = z_e.reshape(-1, z_e.shape[1])  # mixes channels of neighbouring positions
    idx = torch.cdist(flat, codebook).argmin(1)
    return _build(z_e, codebook, beta, idx)


def _distance_summed_over_codes(z_e, codebook, beta):
    flat = _flat(z_e)
    idx = (flat[:, None, :] - codebook[None]).pow(2).sum(1).argmin(1)  # summed over the K codes, argmin over D
    return _build(z_e, codebook, beta, idx)


def _distance_without_square(z_e, codebook, beta):
    flat = _flat(z_e)
    idx = (flat[:, None, :] - codebook[None]).sum(-1).abs().argmin(1)  # |sum of differences|, not a distance
    return _build(z_e, codebook, beta, idx)


def _flat_indices(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx.reshape(-1), loss


def _float_indices(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx.to(z_e.dtype), loss


def _returns_a_dict(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return {"z_q": z_q, "indices": idx, "loss": loss}


def _loss_as_item(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, torch.tensor(loss.item(), dtype=z_e.dtype)


def _mutates_codebook(z_e, codebook, beta):
    idx = _nearest(z_e, codebook)
    with torch.no_grad():
        codebook.mul_(1.0).add_(0.0)
        codebook[idx] = codebook[idx] * 0.999  # an in-place "update" of the codes
    return _build(z_e, codebook, beta, idx)


def _positions_transposed(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.transpose(1, 3).reshape(-1, d)  # (B, W, H, D): right vectors, but ordered column by column
    return _build(z_e, codebook, beta, torch.cdist(flat, codebook).argmin(1))


MISTAKES = [
    (_stub, ["not implemented yet"]),
    (_no_straight_through, ["no gradient flows from z_q back to z_e", "straight-through"]),
    (_straight_through_not_detached, ["no gradient flows from z_q back to z_e"]),
    (_decoder_gradient_into_codebook, ["into the codebook", "Detach the code inside z_q"]),
    (_returns_z_e, ["z_q equals z_e"]),
    (_channels_last_z_q, ["channels-last"]),
    (_codebook_term_without_sg, ["codebook term also pulls z_e"]),
    (_codebook_term_sg_on_code, ["codebook gets no gradient"]),
    (_codebook_term_with_ste, ["straight-through z_q instead of the code"]),
    (_commitment_without_sg, ["commitment term also moves the code"]),
    (_commitment_sg_on_z_e, ["z_e gets no gradient from the loss"]),
    (_no_stop_gradients, ["neither term has a stop-gradient"]),
    (_commitment_only, ["only the commitment term"]),
    (_beta_on_codebook_term, ["beta weights the codebook term"]),
    (_no_beta, ["both terms have weight 1"]),
    (_summed_loss, ["summed", "mean over all"]),
    (_per_vector_sum_then_mean, ["summed over its D channels"]),
    (_farthest_code, ["FARTHEST"]),
    (_reshape_without_permute, ["not z_e[b, :, h, w]", "permute(0, 2, 3, 1)"]),
    (_distance_summed_over_codes, ["is nearer"]),
    (_distance_without_square, ["is nearer"]),
    (_positions_transposed, ["is nearer"]),
    (_flat_indices, ["reshape the flat indices back"]),
    (_float_indices, ["integer code numbers"]),
    (_returns_a_dict, ["three values"]),
    (_loss_as_item, ["carries no gradient"]),
    (_mutates_codebook, ["changed its input codebook in place"]),
]


@pytest.mark.parametrize("wrong, words", MISTAKES, ids=lambda v: getattr(v, "__name__", ""))
def test_vq_forward_checker_rejects(wrong, words):
    assert_rejects(checks.vq_forward, wrong, words)


# ---- right answers written differently --------------------------------------------------------------


def _with_cdist(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    idx = torch.cdist(flat, codebook).argmin(dim=1)
    code = codebook[idx].reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), loss


def _expanded_with_embedding(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.movedim(1, -1).reshape(-1, d)
    dist = (flat ** 2).sum(1, keepdim=True) - 2 * flat @ codebook.T + (codebook ** 2).sum(1)
    idx = torch.argmin(dist, dim=1).view(b, h, w)
    code = F.embedding(idx, codebook).movedim(-1, 1)  # (B, D, H, W)
    z_q = code.detach() + z_e - z_e.detach()
    loss = ((z_e.detach() - code) ** 2).mean() + beta * ((z_e - code.detach()) ** 2).mean()
    return z_q, idx, loss


def _python_loops(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    idx = torch.zeros(b, h, w, dtype=torch.long)
    for i in range(b):
        for r in range(h):
            for c in range(w):
                v = z_e[i, :, r, c].detach()
                idx[i, r, c] = min(range(len(codebook)), key=lambda k: float(((v - codebook[k].detach()) ** 2).sum()))
    code = torch.stack([codebook[idx[i]] for i in range(b)]).permute(0, 3, 1, 2)
    codebook_term = ((z_e.detach() - code) ** 2).sum() / z_e.numel()
    commitment = ((z_e - code.detach()) ** 2).sum() / z_e.numel()
    return z_e + (code - z_e).detach(), idx, codebook_term + beta * commitment


def _broadcast_channels_last(z_e, codebook, beta):
    z = z_e.permute(0, 2, 3, 1)  # (B, H, W, D)
    dist = ((z.unsqueeze(-2) - codebook) ** 2).sum(-1)  # (B, H, W, K)
    idx = dist.argmin(-1)
    code = codebook[idx]  # (B, H, W, D)
    z_q = (z + (code - z).detach()).permute(0, 3, 1, 2)
    loss = torch.mean((code - z.detach()) ** 2) + beta * torch.mean((z - code.detach()) ** 2)
    return z_q, idx, loss


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z_e, code):
        return code.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _autograd_function(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    idx = nearest_codes(_flat(z_e).detach(), codebook.detach())
    code = _grid(codebook[idx], z_e)
    z_q = _StraightThrough.apply(z_e, code.detach())
    loss = F.mse_loss(z_e.detach(), code) + beta * F.mse_loss(z_e, code.detach())
    return z_q, idx.view(b, h, w), loss


def _einsum_and_one_hot(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    dist = (torch.einsum("bdhw,bdhw->bhw", z_e, z_e)[..., None] - 2 * torch.einsum("bdhw,kd->bhwk", z_e, codebook)
            + torch.einsum("kd,kd->k", codebook, codebook))
    idx = dist.argmin(-1)
    one_hot = F.one_hot(idx, len(codebook)).to(z_e.dtype)  # (B, H, W, K)
    code = torch.einsum("bhwk,kd->bdhw", one_hot, codebook)
    return z_e + (code - z_e).detach(), idx, (code - z_e.detach()).pow(2).mean() * 1 + beta * (z_e - code.detach()).pow(2).mean()


def _loss_with_detached_ste(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    idx = _nearest(z_e, codebook)
    code = _grid(codebook[idx], z_e)
    z_q = z_e + (code - z_e).detach()
    return z_q, idx.view(b, h, w), F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, z_q.detach())


RIGHT = [_with_cdist, _expanded_with_embedding, _python_loops, _broadcast_channels_last, _autograd_function,
         _einsum_and_one_hot, _loss_with_detached_ste]


@pytest.mark.parametrize("right", RIGHT, ids=lambda f: f.__name__)
def test_vq_forward_checker_accepts_right_answers(right):
    assert_accepts(checks.vq_forward, right)


def test_the_package_quantizer_computes_what_the_checker_accepts():
    from course_vae import VectorQuantizer

    torch.manual_seed(0)
    z_e = torch.randn(2, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    vq = VectorQuantizer(10, 4, beta=0.6).double()
    vq.set_codebook(torch.randn(10, 4, dtype=torch.float64))
    out = vq(z_e)
    codebook = vq.codebook.detach().clone().requires_grad_(True)
    z_q, idx, loss = _with_cdist(z_e, codebook, 0.6)
    assert torch.equal(out.indices, idx)
    torch.testing.assert_close(out.z_q, z_q)
    torch.testing.assert_close(out.loss, loss)
    w = torch.rand_like(z_q)
    for mine, theirs, wrt_mine, wrt_theirs in [((out.z_q * w).sum(), (z_q * w).sum(), z_e, z_e),
                                               (out.loss, loss, vq.codebook, codebook), (out.loss, loss, z_e, z_e)]:
        (g1,) = torch.autograd.grad(mine, wrt_mine, retain_graph=True)
        (g2,) = torch.autograd.grad(theirs, wrt_theirs, retain_graph=True)
        torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("name", list(checks.EXERCISES))
def test_checkers_accept_the_solution_and_reject_the_exercise_stub(name):
    checker = checks.EXERCISES[name]
    assert_accepts(checker, definitions(ROOT / "solutions" / "08_vq_vae.ipynb")[name])
    assert_rejects(checker, definitions(ROOT / "exercises" / "08_vq_vae.ipynb")[name], ["not implemented yet"])
