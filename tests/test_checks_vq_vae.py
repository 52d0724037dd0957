"""Chapter 8's checker: the vector quantizer's forward pass, against a catalogue of slips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

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


# ---- more slips: the distance, the grid order, the reductions, the weights, the stop-gradients -----------


def _sq(flat, codebook):
    return flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)


def _terms(z_e, code):
    return (z_e.detach() - code).pow(2), (z_e - code.detach()).pow(2)


def _std(z_e, codebook, beta, idx):
    b, d, h, w = z_e.shape
    code = _grid(codebook[idx], z_e)
    return code, z_e + (code - z_e).detach(), idx.reshape(b, h, w)


def _argmin_over_batch_axis(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _sq(_flat(z_e), codebook).argmin(0))


def _l1_distance(z_e, codebook, beta):
    return _build(z_e, codebook, beta, torch.cdist(_flat(z_e), codebook, p=1).argmin(1))


def _view_as_channels_last(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    z = z_e.view(b, h, w, d)  # reshape instead of permute
    return _build(z_e, codebook, beta, _sq(z.reshape(-1, d), codebook).argmin(1))


def _codes_reshaped_to_grid_without_permute(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    idx = _nearest(z_e, codebook)
    code = codebook[idx].reshape(b, d, h, w)
    z_q = z_e + (code - z_e).detach()
    return z_q, idx.reshape(b, h, w), (z_e.detach() - code).pow(2).mean() + beta * (z_e - code.detach()).pow(2).mean()


def _indices_grid_transposed(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx.reshape(b, w, h).transpose(1, 2), loss


def _mean_per_example_summed_over_batch(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, cb.mean(dim=(1, 2, 3)).sum() + beta * cm.mean(dim=(1, 2, 3)).sum()


def _sum_per_example_mean_over_batch(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, cb.sum(dim=(1, 2, 3)).mean() + beta * cm.sum(dim=(1, 2, 3)).mean()


def _codebook_term_summed_over_channels_only(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, cb.sum(1).mean() + beta * cm.mean()


def _terms_swapped(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, (z_e - code.detach()).pow(2).mean() + beta * (z_e.detach() - code).pow(2).mean()


def _beta_on_both_terms(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, beta * (cb.mean() + cm.mean())


def _commitment_with_one_minus_beta(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, cb.mean() + (1 - beta) * cm.mean()


def _convex_combination(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, (1 - beta) * cb.mean() + beta * cm.mean()


def _lookup_under_no_grad(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    with torch.no_grad():
        idx = _nearest(z_e, codebook)
        code = _grid(codebook[idx], z_e)
    cb, cm = _terms(z_e, code)
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), cb.mean() + beta * cm.mean()


def _detached_codebook_everywhere(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    cbk = codebook.detach()
    idx = _nearest(z_e, cbk)
    code = _grid(cbk[idx], z_e)
    cb, cm = _terms(z_e, code)
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), cb.mean() + beta * cm.mean()


def _ste_detach_on_wrong_part(z_e, codebook, beta):
    code, _, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return code + (z_e - code).detach(), idx, cb.mean() + beta * cm.mean()


def _ste_plus_sign(z_e, codebook, beta):
    code, _, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_e + (code + z_e).detach(), idx, cb.mean() + beta * cm.mean()


def _ste_detaches_everything(z_e, codebook, beta):
    code, _, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return (z_e + (code - z_e)).detach(), idx, cb.mean() + beta * cm.mean()


def _argmax_of_dot_products(z_e, codebook, beta):
    return _build(z_e, codebook, beta, (_flat(z_e) @ codebook.t()).argmax(1))


def _expansion_without_code_norms(z_e, codebook, beta):
    flat = _flat(z_e)
    return _build(z_e, codebook, beta, (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t()).argmin(1))


def _expansion_without_the_two(z_e, codebook, beta):
    flat = _flat(z_e)
    return _build(z_e, codebook, beta, (flat.pow(2).sum(1, keepdim=True) - flat @ codebook.t()
                                        + codebook.pow(2).sum(1)).argmin(1))


def _float64_result_not_cast_back(z_e, codebook, beta):
    return _build(z_e.double(), codebook.double(), beta, _nearest(z_e, codebook))


def _ste_in_place_on_z_e(z_e, codebook, beta):
    code, _, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    loss = cb.mean() + beta * cm.mean()
    with torch.no_grad():
        z_e.copy_(code)
    return z_e, idx, loss


def _in_place_plus_equals(z_e, codebook, beta):
    code, _, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    z_e += (code - z_e).detach()
    return z_e, idx, (z_e.detach() - code).pow(2).mean()


def _numpy_lookup(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = _flat(z_e).detach().numpy()
    cb_np = codebook.detach().numpy()
    idx = ((flat[:, None, :] - cb_np[None]) ** 2).sum(-1).argmin(1)
    code = _grid(torch.from_numpy(cb_np[idx]), z_e)
    cb, cm = _terms(z_e, code)
    return z_e + (code - z_e).detach(), torch.from_numpy(idx).reshape(b, h, w), cb.mean() + beta * cm.mean()


def _commitment_with_z_q(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, (z_e.detach() - code).pow(2).mean() + beta * (z_e - z_q).pow(2).mean()


def _norm_not_squared(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, (z_e.detach() - code).norm() + beta * (z_e - code.detach()).norm()


def _return_order_swapped(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return idx, z_q, loss


def _terms_returned_separately(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, cb.mean(), beta * cm.mean()


def _one_hot_indices(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, F.one_hot(idx, len(codebook)), loss


def _loss_as_python_float(z_e, codebook, beta):
    z_q, idx, loss = _build(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, loss.item()


def _cdist_on_the_grid(z_e, codebook, beta):
    return _build(z_e, codebook, beta, torch.cdist(z_e, codebook).argmin(1))


def _loss_per_position(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_q, idx, cb.mean(1) + beta * cm.mean(1)


def _argmin_without_dim(z_e, codebook, beta):
    return _build(z_e, codebook, beta, _sq(_flat(z_e), codebook).argmin())


def _cosine_similarity(z_e, codebook, beta):
    sim = F.normalize(_flat(z_e), dim=1) @ F.normalize(codebook, dim=1).t()
    return _build(z_e, codebook, beta, sim.argmax(1))


def _both_terms_with_z_q(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, F.mse_loss(z_q, z_e.detach()) + beta * F.mse_loss(z_e, z_q)


def _detach_z_e_first(z_e, codebook, beta):
    return _build(z_e.detach(), codebook, beta, _nearest(z_e, codebook))


def _switches_off_requires_grad(z_e, codebook, beta):
    z_e.requires_grad_(False)
    return _build(z_e, codebook, beta, _nearest(z_e, codebook))


def _ste_sign_flipped(z_e, codebook, beta):
    code, _, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    cb, cm = _terms(z_e, code)
    return z_e - (code - z_e).detach(), idx, cb.mean() + beta * cm.mean()


def _l1_commitment(z_e, codebook, beta):
    code, z_q, idx = _std(z_e, codebook, beta, _nearest(z_e, codebook))
    return z_q, idx, (z_e.detach() - code).pow(2).mean() + beta * (z_e - code.detach()).abs().mean()


MORE_MISTAKES = [
    (_argmin_over_batch_axis, ["not a code number in [0, K)", "dim=1"]),
    (_l1_distance, ["L1 distance", "squared Euclidean"]),
    (_view_as_channels_last, ["not z_e[b, :, h, w]", "permute(0, 2, 3, 1)"]),
    (_codes_reshaped_to_grid_without_permute, ["(B, H, W, D)", ".permute(0, 3, 1, 2)"]),
    (_indices_grid_transposed, ["right codes, but at the wrong positions"]),
    (_mean_per_example_summed_over_batch, ["summed over the batch"]),
    (_sum_per_example_mean_over_batch, ["summed over each example's D * H * W entries"]),
    (_codebook_term_summed_over_channels_only, ["4.25 times the mean", "1.25 times it"]),
    (_terms_swapped, ["beta weights the codebook term"]),
    (_beta_on_both_terms, ["beta multiplies both terms"]),
    (_commitment_with_one_minus_beta, ["weighted by 1 - beta"]),
    (_convex_combination, ["weights add up to 1"]),
    (_lookup_under_no_grad, ["codebook gets no gradient", "torch.no_grad()"]),
    (_detached_codebook_everywhere, ["cut from the codebook's graph"]),
    (_ste_detach_on_wrong_part, ["z_q equals z_e", "code + (z_e - code).detach()"]),
    (_ste_plus_sign, ["check the signs"]),
    (_ste_detaches_everything, ["no gradient flows from z_q back to z_e"]),
    (_argmax_of_dot_products, ["largest dot product", "||e_j||^2"]),
    (_expansion_without_code_norms, ["dropped the ||e_j||^2 term"]),
    (_expansion_without_the_two, ["is nearer", "- 2 z.e +"]),
    (_float64_result_not_cast_back, ["returned float64 for float32 inputs"]),
    (_ste_in_place_on_z_e, ["changed its input z_e in place"]),
    (_in_place_plus_equals, ["in-place operation", "out of place"]),
    (_numpy_lookup, ["codebook gets no gradient", "numpy"]),
    (_commitment_with_z_q, ["z_e gets no gradient from the loss", "use the code"]),
    (_norm_not_squared, ["times the mean of (z_e - e)^2", "not of norms"]),
    (_return_order_swapped, ["order is (z_q, indices, loss)"]),
    (_terms_returned_separately, ["three values", "length 4"]),
    (_one_hot_indices, ["expected (3, 3, 5)", "one code number per position"]),
    (_loss_as_python_float, ["loss should be a floating-point torch.Tensor, got float"]),
    (_cdist_on_the_grid, ["rows of length D"]),
    (_loss_per_position, ["one number (0-dimensional)"]),
    (_argmin_without_dim, ["argmin without dim="]),
    (_cosine_similarity, ["is nearer"]),
    (_both_terms_with_z_q, ["not the straight-through z_q"]),
    (_detach_z_e_first, ["not z_e.detach()"]),
    (_switches_off_requires_grad, ["switched off requires_grad"]),
    (_ste_sign_flipped, ["check the signs"]),
    (_l1_commitment, ["1.343 times the mean"]),
]


FORWARD_MISTAKES = [
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
    (_positions_transposed, ["right codes, but at the wrong positions"]),
    (_flat_indices, ["reshape the flat indices back"]),
    (_float_indices, ["integer code numbers"]),
    (_returns_a_dict, ["three values"]),
    (_loss_as_item, ["carries no gradient"]),
    (_mutates_codebook, ["changed its input codebook in place"]),
]


@pytest.mark.parametrize("wrong, words", FORWARD_MISTAKES + MORE_MISTAKES, ids=lambda v: getattr(v, "__name__", ""))
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


# right answers written still other ways: sqrt, argmax of -distance, one-hot, .data, no_grad around the
# argmin, float64 inside, the last of tied codes (the text does not ask for the lowest), numpy, ...


def _sqrt_of_squared_distances(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)).clamp_min(0).sqrt()
    idx = dist.argmin(1)
    code = codebook[idx].view(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())
    return z_e + (code - z_e).detach(), idx.view(b, h, w), loss


def _argmax_of_negative_distances(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    z = z_e.permute(0, 2, 3, 1)
    idx = (-torch.linalg.vector_norm(z[..., None, :] - codebook, dim=-1)).argmax(-1)  # (B, H, W)
    code = codebook[idx].permute(0, 3, 1, 2)
    return z_e + (code - z_e).detach(), idx, F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())


def _one_hot_matmul(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    idx = torch.cdist(flat, codebook).argmin(1)
    code = (F.one_hot(idx, codebook.shape[0]).to(codebook.dtype) @ codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), loss


def _stop_gradient_with_data(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    idx = torch.cdist(flat, codebook).argmin(1)
    code = codebook[idx].reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = ((z_e.data - code) ** 2).mean() + beta * ((z_e - code.data) ** 2).mean()
    return z_e + (code - z_e).data, idx.reshape(b, h, w), loss


def _argmin_under_no_grad(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    with torch.no_grad():
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = ((flat[:, None] - codebook[None]) ** 2).sum(-1).argmin(1).reshape(b, h, w)
    code = codebook[idx].permute(0, 3, 1, 2)
    return z_e + (code - z_e).detach(), idx, F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())


def _float64_inside(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    z, c = z_e.double(), codebook.double()
    flat = z.permute(0, 2, 3, 1).reshape(-1, d)
    idx = ((flat[:, None] - c[None]) ** 2).sum(-1).argmin(1)
    code = c[idx].reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = ((z.detach() - code) ** 2).mean() + beta * ((z - code.detach()) ** 2).mean()
    z_q = z + (code - z).detach()
    return z_q.to(z_e.dtype), idx.reshape(b, h, w), loss.to(z_e.dtype)


def _last_of_tied_codes(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    dist = torch.cdist(flat, codebook) ** 2
    idx = codebook.shape[0] - 1 - dist.flip(1).argmin(1)  # the last minimum instead of the first
    code = codebook[idx].reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), loss


def _numpy_argmin(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, d).numpy()
    dist = ((flat[:, None, :] - codebook.detach().numpy()[None]) ** 2).sum(-1)
    idx = torch.from_numpy(dist.argmin(1)).reshape(b, h, w)
    code = codebook[idx].permute(0, 3, 1, 2)
    return z_e + (code - z_e).detach(), idx, F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())


def _columns_first_then_transposed_back(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 3, 2, 1).reshape(-1, d)  # ordered (example, column, row)
    idx = torch.cdist(flat, codebook).argmin(1).reshape(b, w, h).transpose(1, 2)  # back to (B, H, W)
    code = codebook[idx].permute(0, 3, 1, 2)
    return z_e + (code - z_e).detach(), idx, F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())


def _index_select_and_addmm(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    dist = torch.addmm(codebook.pow(2).sum(1)[None] + flat.pow(2).sum(1, keepdim=True), flat, codebook.t(), alpha=-2)
    idx = dist.argmin(1, keepdim=True).squeeze(1)
    code = codebook.index_select(0, idx).reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())
    return z_e - (z_e - code).detach(), idx.reshape(b, h, w), loss


def _batched_cdist_on_flattened_grid(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    z = z_e.flatten(2).transpose(1, 2)  # (B, H * W, D)
    idx = torch.cdist(z, codebook.expand(b, -1, -1)).argmin(-1)  # (B, H * W)
    code = codebook[idx].transpose(1, 2).reshape(b, d, h, w)
    mse = nn.MSELoss()
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), mse(code, z_e.detach()) + beta * mse(z_e, code.detach())


def _loss_on_flat_vectors(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.movedim(1, -1).reshape(-1, d)
    idx = ((flat.unsqueeze(1) - codebook.unsqueeze(0)) ** 2).sum(2).argmin(1)
    codes = codebook[idx]  # (N, D)
    loss = (flat.detach() - codes).square().mean() + beta * (flat - codes.detach()).square().mean()
    z_q = (flat + (codes - flat).detach()).reshape(b, h, w, d).movedim(-1, 1)
    return z_q, idx.reshape(b, h, w), loss


def _int32_indices(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    idx = torch.cdist(flat, codebook).argmin(1).int()
    code = codebook[idx.long()].reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(code, z_e.detach()) + beta * F.mse_loss(z_e, code.detach())
    return z_e + (code - z_e).detach(), idx.reshape(b, h, w), loss


def _min_with_indices_and_gather(z_e, codebook, beta):
    b, d, h, w = z_e.shape
    z = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    _, idx = torch.min(torch.sum((z[:, None, :] - codebook) ** 2, dim=2), dim=1)
    code = torch.gather(codebook, 0, idx[:, None].expand(-1, d)).reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = (z_e.detach() - code).pow(2).mean() + beta * (z_e - code.detach()).pow(2).mean()
    return code.detach() + (z_e - z_e.detach()), idx.reshape(b, h, w), loss


MORE_RIGHT = [_sqrt_of_squared_distances, _argmax_of_negative_distances, _one_hot_matmul, _stop_gradient_with_data,
              _argmin_under_no_grad, _float64_inside, _last_of_tied_codes, _numpy_argmin,
              _columns_first_then_transposed_back, _index_select_and_addmm, _batched_cdist_on_flattened_grid,
              _loss_on_flat_vectors, _int32_indices, _min_with_indices_and_gather]


RIGHT = [_with_cdist, _expanded_with_embedding, _python_loops, _broadcast_channels_last, _autograd_function,
         _einsum_and_one_hot, _loss_with_detached_ste]


@pytest.mark.parametrize("right", RIGHT + MORE_RIGHT, ids=lambda f: f.__name__)
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


# The catalogue tests/test_checks.py reads: every exercise has at least three known mistakes.
MISTAKES = {"vq_forward": FORWARD_MISTAKES + MORE_MISTAKES}
