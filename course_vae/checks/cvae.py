"""Checkers of chapter 7's exercise: the conditional VAE's forward pass and its loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .core import (
    F32,
    F64,
    CheckFailed,
    call,
    expect_close,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_unchanged,
    gradient,
    passed,
    snapshot,
    student_gradient,
)
from ..vae import VAEOutput
from .elbo import kl_variants
from .vae import LARGE_LOGITS, VAE_HINTS, _case, _same

FORWARD_HINTS = [
    ("one_hot is only applicable to index tensor",
     "F.one_hot needs int64 labels and these are of another dtype (int32 from a numpy array, or labels turned into "
     "floats): pass it y.long()."),
    ("stack expects each tensor to be equal size",
     "torch.stack puts tensors of the same shape along a NEW axis; the label's code goes next to each row of "
     "different-width inputs: torch.cat([..., code], dim=1)."),
    ("'tuple' object has no attribute",
     "The encoder returns a pair (mu, logvar), not one tensor to split: mu, logvar = encoder(...)."),
    ("Sizes of tensors must match except in dimension",
     "torch.cat joined tensors of different widths along the wrong axis: the label's code goes NEXT to each row "
     "(more columns, dim=1), not below the batch (more rows, dim=0)."),
    ("Tensors must have same number of dimensions",
     "torch.cat got an image (B, C, H, W) and a matrix (B, num_classes): flatten the images to (B, C*H*W) first "
     "(x.flatten(start_dim=1))."),
    ("Class values must be smaller than num_classes",
     "F.one_hot got labels that do not fit num_classes: pass num_classes, the argument of cvae_forward."),
    ("shape '[", "A reshape assumed one image size; the checker also uses 8 x 8 images: flatten with "
     "x.flatten(start_dim=1) or x.reshape(len(x), -1)."),
]


# ---- the forward pass ------------------------------------------------------------------------------


class _ProbeEncoder(nn.Module):
    """A fixed linear Gaussian encoder ``(B, D + K) -> (mu, logvar)`` that records every input it gets.

    An input of another width gets outputs of the right shape (zeros), so that the
    student's code runs to the end and the checker can say what the encoder was given.
    """

    def __init__(self, n_in: int, d: int, dtype: torch.dtype, g: torch.Generator) -> None:
        super().__init__()
        self.n_in, self.d = n_in, d
        self.w_mu = nn.Parameter(torch.randn(n_in, d, generator=g, dtype=F64).to(dtype) / math.sqrt(n_in) * 3)
        self.w_logvar = nn.Parameter(torch.randn(n_in, d, generator=g, dtype=F64).to(dtype) / math.sqrt(n_in))
        self.inputs: list[torch.Tensor] = []

    def reference(self, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return inp.to(F64) @ self.w_mu.detach().to(F64), inp.to(F64) @ self.w_logvar.detach().to(F64)

    def forward(self, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.inputs.append(inp)
        w = self.w_mu
        if isinstance(inp, torch.Tensor) and inp.dim() == 2 and inp.shape[1] == self.n_in and inp.is_floating_point():
            h = inp.to(w.dtype)
            return h @ self.w_mu, h @ self.w_logvar
        rows = inp.shape[0] if isinstance(inp, torch.Tensor) and inp.dim() else 1
        zeros = torch.zeros(rows, self.d, dtype=w.dtype) + 0 * w.sum()
        return zeros, zeros.clone()


class _ProbeDecoder(nn.Module):
    """A fixed linear decoder ``(B, d + K) -> logits (B, *image_shape)`` that records its inputs."""

    def __init__(self, n_in: int, image_shape: tuple[int, ...], dtype: torch.dtype, g: torch.Generator) -> None:
        super().__init__()
        self.n_in, self.image_shape = n_in, image_shape
        self.weight = nn.Parameter(torch.randn(n_in, math.prod(image_shape), generator=g, dtype=F64).to(dtype))
        self.inputs: list[torch.Tensor] = []

    def reference(self, inp: torch.Tensor) -> torch.Tensor:
        return (inp.to(F64) @ self.weight.detach().to(F64)).reshape(len(inp), *self.image_shape)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        self.inputs.append(inp)
        w = self.weight
        if isinstance(inp, torch.Tensor) and inp.dim() == 2 and inp.shape[1] == self.n_in and inp.is_floating_point():
            return (inp.to(w.dtype) @ w).reshape(len(inp), *self.image_shape)
        rows = inp.shape[0] if isinstance(inp, torch.Tensor) and inp.dim() else 1
        return torch.zeros(rows, *self.image_shape, dtype=w.dtype) + 0 * w.sum()


def _gathered(inputs: list, batch: int) -> object:
    """The module's input for the whole batch: the last call's, or the rows of a loop over the batch, joined."""
    if len(inputs) > 1 and all(isinstance(t, torch.Tensor) and t.dim() == 2 for t in inputs):
        widths = {t.shape[1] for t in inputs}
        tail, rows = [], 0
        for t in reversed(inputs):  # the last calls that together cover the batch once
            tail.insert(0, t)
            rows += t.shape[0]
            if rows >= batch:
                break
        if rows == batch and len(tail) > 1 and len(widths) == 1 and len({t.dtype for t in tail}) == 1:
            return torch.cat(tail)
    return inputs[-1]


def _near(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    a, b = a.detach().to(F64), b.detach().to(F64)
    return a.shape == b.shape and bool(((a - b).abs() <= tol * (1 + b.abs())).all())


def _is_one_hot_of(block: torch.Tensor, y: torch.Tensor) -> bool:
    """Every row has a single 1, at column ``y_i``, and 0 elsewhere (any width above max(y))."""
    b = block.detach().to(F64)
    if b.dim() != 2 or b.shape[1] <= int(y.max()):
        return False
    return _near(b, F.one_hot(y.long(), b.shape[1]).to(F64), 0)


def _diagnose_input(inp: object, data: torch.Tensor, y: torch.Tensor, num_classes: int, role: str, data_name: str,
                    dtype: torch.dtype, probe: str, mu: torch.Tensor | None = None) -> None:
    """Fail unless the ``role`` (encoder / decoder) got ``[data, one_hot(y)]``; name the slip otherwise."""
    __tracebackhide__ = True
    where = f" [probe: {probe}]"
    b, n = data.shape
    k = num_classes
    want = f"[{data_name}, one-hot(y)] of shape ({b}, {n + k}) (the {n} values of {data_name} then the {k} entries of the code)"
    if not isinstance(inp, torch.Tensor):
        raise CheckFailed(f"cvae_forward called the {role} with a {type(inp).__name__}; it takes one tensor, {want}{where}")
    if inp.dim() != 2:
        raise CheckFailed(f"cvae_forward gave the {role} a tensor of shape {tuple(inp.shape)}; it takes a matrix, "
                          f"{want}{where}")
    if inp.shape[0] != b:
        raise CheckFailed(f"cvae_forward gave the {role} {inp.shape[0]} rows for a batch of {b}: the label's code goes "
                          f"next to each row (torch.cat along dim=1), not below the batch; the {role} takes {want}{where}")
    if not inp.is_floating_point():
        raise CheckFailed(f"cvae_forward gave the {role} a {str(inp.dtype).replace('torch.', '')} tensor: turn the "
                          f"one-hot code into x's floating dtype before concatenating{where}")
    a = inp.detach().to(F64)
    width = inp.shape[1]
    head_ok = width >= n and _near(a[:, :n], data)
    if width == n and head_ok:
        what = "q(z | x, y)" if role == "encoder" else "p(x | z, y)"
        raise CheckFailed(f"cvae_forward gave the {role} {data_name} alone: the label never reaches the {role}, so it "
                          f"models {what.replace(', y', '')} instead of {what}. Concatenate the one-hot code of y to "
                          f"the {role}'s input too: it takes {want}{where}")
    if width == n + 1 and head_ok and _near(a[:, n], y.to(F64)):
        raise CheckFailed(f"cvae_forward appended the label to the {role}'s input as one raw number (y_i itself): a "
                          f"number says 7 is 'more' than 3, a code does not. Append its one-hot code, "
                          f"F.one_hot(y, num_classes) ({k} columns, a single 1 at column y_i){where}")
    if width == n + 1 and head_ok and k != 1:
        raise CheckFailed(f"cvae_forward appended one number per example to the {role}'s input (a value computed "
                          f"from the label?): the condition is the label's one-hot code, F.one_hot(y, num_classes), "
                          f"{k} columns with a single 1 at column y_i{where}")
    if width == n + k:
        if head_ok and _near(a[:, n:], F.one_hot(y.long(), k).to(F64)):
            if inp.dtype != dtype:
                raise CheckFailed(f"cvae_forward gave the {role} a {str(inp.dtype).replace('torch.', '')} input for "
                                  f"{str(dtype).replace('torch.', '')} data: make the one-hot code in x's dtype "
                                  f"(.to(x.dtype)) so the concatenation keeps it{where}")
            return
        if _near(a[:, :k], F.one_hot(y.long(), k).to(F64)) and _near(a[:, k:], data):
            raise CheckFailed(f"cvae_forward put the one-hot code BEFORE {data_name}; this {role} reads "
                              f"{data_name} first, then the code: torch.cat([{data_name}, code], dim=1){where}")
        if role == "decoder" and mu is not None and _near(a[:, :n], mu) and not _near(mu, data):
            raise CheckFailed(f"cvae_forward decoded the mean mu; the decoder reads the SAMPLED z that you return as "
                              f"out.z (the ELBO's expectation is over z ~ q(z | x, y)){where}")
        if head_ok:
            raise CheckFailed(f"cvae_forward: the last {k} columns of the {role}'s input are not the one-hot code of "
                              f"y (a single 1 at column y_i of row i, 0 elsewhere, for the labels as given){where}")
    if width > n and head_ok and _is_one_hot_of(a[:, n:], y):
        why = (" (F.one_hot(y) without num_classes takes the width from the largest label in the batch): pass "
               "num_classes" if width - n == int(y.max()) + 1 else ": make the code num_classes wide")
        raise CheckFailed(f"cvae_forward appended a one-hot code of width {width - n} to the {role}'s input; the "
                          f"model has num_classes = {k} classes{why}{where}")
    if width == n + k:
        raise CheckFailed(f"cvae_forward: the first {n} columns of the {role}'s input are not {data_name}"
                          + (" (flattened with x.flatten(start_dim=1), values unchanged)" if role == "encoder"
                             else " (the z you return as out.z)") + f"; the {role} takes {want}{where}")
    raise CheckFailed(f"cvae_forward gave the {role} an input of shape {tuple(inp.shape)}; it takes {want}{where}")


def _forward_case(probe_g: torch.Generator, batch: int, image: tuple[int, ...], d: int, k: int, dtype: torch.dtype,
                  labels: list[int] | None, label_dtype: torch.dtype):
    x = torch.rand(batch, *image, generator=probe_g, dtype=F64).to(dtype)
    if labels is None:  # random labels that leave out the last class, so F.one_hot(y) alone is too narrow
        labels = torch.randint(0, k - 1, (batch,), generator=probe_g).tolist()
    y = torch.tensor(labels, dtype=label_dtype)
    n = math.prod(image)
    return x, y, _ProbeEncoder(n + k, d, dtype, probe_g), _ProbeDecoder(d + k, image, dtype, probe_g)


def cvae_forward(fn) -> None:
    """Check ``fn(encoder, decoder, x, y, num_classes) -> VAEOutput`` of a conditional VAE.

    The checker passes linear probe modules that record what they are given. The encoder
    must get ``[x flattened, one_hot(y)]`` (B, D + K), the decoder ``[z, one_hot(y)]``
    (B, d + K) with the ``z`` returned as ``out.z``; ``out.mu``, ``out.logvar`` and
    ``out.logits`` must be the modules' outputs; ``z`` must be ``mu + exp(logvar / 2) *
    eps`` with standard normal ``eps`` (tested through its gradients, whatever the noise),
    one ``eps`` per entry of ``mu``, fresh at every call (another global seed gives another
    ``z``), and the logits must carry a gradient back to the encoder through ``z``. A loop
    over the batch whose pieces are joined afterwards is accepted. Probes: float64 and
    float32, 28 x 28 and 8 x 8 images, batches without the last class (so
    ``F.one_hot(y)`` without ``num_classes`` is too narrow), int32 labels, a batch of one,
    and a large batch for the noise's statistics.
    """
    __tracebackhide__ = True
    name = "cvae_forward"
    g = torch.Generator().manual_seed(71)
    cases = [  # (probe, batch, image shape, d, K, dtype, labels, label dtype)
        ("float64, 6 images 28 x 28, K = 10, d = 3, no digit 9 in the batch", 6, (1, 28, 28), 3, 10, F64,
         [3, 0, 7, 3, 1, 5], torch.int64),
        ("float32, 5 images 8 x 8, K = 4, d = 2, no label 3 in the batch", 5, (1, 8, 8), 2, 4, F32,
         [0, 2, 1, 2, 0], torch.int64),
        ("float32, a batch of one image, K = 10, d = 5", 1, (1, 28, 28), 5, 10, F32, [9], torch.int64),
        ("float32, 7 images, labels as int32 (as numpy arrays often give them), K = 10, d = 4", 7, (1, 28, 28), 4, 10,
         F32, [2, 8, 4, 4, 0, 6, 1], torch.int32),
        ("float64, 200 images 8 x 8, K = 3, d = 6", 200, (1, 8, 8), 6, 3, F64, None, torch.int64),
    ]
    for probe, batch, image, d, k, dtype, labels, label_dtype in cases:
        x, y, encoder, decoder = _forward_case(g, batch, image, d, k, dtype, labels, label_dtype)
        copies = snapshot(x, y)
        out = call(fn, name, encoder, decoder, x, y, k, hints=FORWARD_HINTS)
        expect_unchanged([x, y], copies, ["x", "y"], name)
        if not encoder.inputs:
            raise CheckFailed(f"{name} never called the encoder [probe: {probe}]")
        if not decoder.inputs:
            raise CheckFailed(f"{name} never called the decoder [probe: {probe}]")
        y64 = y.long()
        _diagnose_input(_gathered(encoder.inputs, batch), x.flatten(1), y64, k, "encoder", "x", dtype, probe)
        missing = [a for a in ("logits", "mu", "logvar", "z") if not hasattr(out, a)]
        if missing:
            raise CheckFailed(f"{name} should return VAEOutput(logits=..., mu=..., logvar=..., z=...), got a "
                              f"{type(out).__name__} without {', '.join(missing)}")
        for attr in ("logits", "mu", "logvar", "z"):
            expect_tensor(getattr(out, attr), f"{name}(...).{attr}")
        expect_shape(out.z, (batch, d), f"{name}(...).z", "one code of d coordinates per example")
        onehot_in = torch.cat([x.to(F64).flatten(1), F.one_hot(y64, k).to(F64)], dim=1)
        mu_ref, logvar_ref = encoder.reference(onehot_in)
        expect_close(out.mu, mu_ref, f"{name}(...).mu", what="values", dtype=dtype, probe=probe,
                     axes=("example", "coordinate"), known_mistakes=[
                         (logvar_ref, "out.mu holds the log-variance: the encoder returns the pair (mu, logvar)")])
        expect_close(out.logvar, logvar_ref, f"{name}(...).logvar", what="values", dtype=dtype, probe=probe,
                     axes=("example", "coordinate"), known_mistakes=[
                         (mu_ref, "out.logvar holds the mean: the encoder returns the pair (mu, logvar)"),
                         (0.5 * logvar_ref, "out.logvar holds log sigma; return the encoder's log-variance as is")])
        if not torch.isfinite(out.z).all():
            raise CheckFailed(f"{name}: out.z has NaN or infinite entries where mu and logvar are finite: the log-"
                              "variance can be negative, so logvar.sqrt() or log(...) of it fails; sigma = "
                              f"exp(logvar / 2) [probe: {probe}]")
        _diagnose_input(_gathered(decoder.inputs, batch), out.z.detach().to(dtype), y64, k, "decoder", "z", dtype,
                        probe, mu=out.mu)
        expect_dtype(out.logits, dtype, f"{name}(...).logits")
        expect_shape(out.logits, (batch, *image), f"{name}(...).logits", "the decoder's output as it comes, one "
                     "logit per pixel in the images' shape")
        reference_logits = decoder.reference(torch.cat([out.z.to(F64), F.one_hot(y64, k).to(F64)], 1))
        expect_close(out.logits, reference_logits, f"{name}(...).logits", what="values", dtype=dtype, probe=probe,
                     axes=("example", "channel", "row", "column"), known_mistakes=[
                         (torch.sigmoid(reference_logits), "out.logits went through a sigmoid: return the decoder's "
                          "output, the logits, as they are (the loss applies the sigmoid)"),
                         (torch.sigmoid(torch.sigmoid(reference_logits)), "out.logits went through a sigmoid (twice): "
                          "return the decoder's output, the logits, as they are")])
        _check_reparameterized(out, name, dtype, probe, encoder, onehot_in)
        _check_logits_reach_encoder(out, name, probe, encoder)
        if batch >= 100:
            again = call(fn, name, encoder, decoder, x, y, k, seed=1, hints=FORWARD_HINTS)
            if isinstance(getattr(again, "z", None), torch.Tensor) and _near(again.z, out.z, 0):
                raise CheckFailed(f"{name} returns the same z for another state of torch's random generator: a "
                                  "torch.manual_seed(...) or a torch.Generator seeded inside the function draws the "
                                  "same eps at every training step. Draw fresh noise from the global generator, "
                                  f"torch.randn_like(mu) [probe: {probe}]")
    passed(name, f"the label's one-hot code reaches the encoder and the decoder, z is reparameterized, on "
                 f"{len(cases)} probes (float32/64, 8 x 8 images, int32 labels, a batch of one)")


def _check_logits_reach_encoder(out, name: str, probe: str, encoder: _ProbeEncoder) -> None:
    """The logits must be a differentiable function of the z returned (so the encoder gets a gradient)."""
    __tracebackhide__ = True
    message = (f"{name}: out.logits carry no gradient back to z, so the reconstruction term cannot train the encoder: "
               "decode the reparameterized z itself (no .detach(), torch.no_grad() or .data on the way) "
               f"[probe: {probe}]")
    if not out.logits.requires_grad:
        raise CheckFailed(message)
    (grad,) = torch.autograd.grad(out.logits.sum(), [encoder.w_mu], allow_unused=True, retain_graph=True)
    if grad is None or not bool(grad.any()):
        raise CheckFailed(message)


def _check_reparameterized(out, name: str, dtype: torch.dtype, probe: str, encoder: _ProbeEncoder,
                           inputs: torch.Tensor) -> None:
    """``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``: dz/dmu = 1, dz/dlogvar = (z - mu) / 2.

    The gradients are taken with respect to the returned ``mu`` and ``logvar``; if ``z`` was
    made from other tensors with the same values (a loop over the batch whose pieces are
    joined afterwards), with respect to the probe encoder's weights instead, where a gradient
    ``G`` with respect to ``mu`` shows as ``inputs.T @ G``.
    """
    __tracebackhide__ = True
    where = f" [probe: {probe}]"
    z, mu, logvar = out.z, out.mu, out.logvar
    expect_dtype(z, dtype, f"{name}(...).z")
    if _near(z, mu, 0):
        raise CheckFailed(f"{name}: out.z equals out.mu: z is a SAMPLE of q(z | x, y), mu + exp(logvar / 2) * eps "
                          f"with eps ~ N(0, I) (torch.randn_like(mu)){where}")
    if not z.requires_grad:
        raise CheckFailed(f"{name}: out.z does not depend differentiably on the encoder's outputs: draw only eps at "
                          f"random and compute z = mu + exp(logvar / 2) * eps, so the gradient reaches the encoder"
                          f"{where}")
    weights = torch.rand(z.shape, generator=torch.Generator().manual_seed(3), dtype=F64).to(z.dtype) + 0.5
    grads = torch.autograd.grad(z, [mu, logvar], weights, allow_unused=True, retain_graph=True)
    project, axes = (lambda g: g), ("example", "coordinate")
    if grads[0] is None and grads[1] is None:  # z made from the encoder's outputs before they were joined?
        grads = torch.autograd.grad(z, [encoder.w_mu, encoder.w_logvar], weights, allow_unused=True, retain_graph=True)
        project, axes = (lambda g: inputs.T @ g.to(F64)), ("encoder input", "coordinate")
    if grads[0] is not None and grads[1] is None:
        raise CheckFailed(f"{name}: out.z does not depend on out.logvar: the noise is scaled by the standard deviation, "
                          f"z = mu + exp(logvar / 2) * eps{where}")
    if grads[0] is None or grads[1] is None:
        raise CheckFailed(f"{name}: out.z is not computed from the out.mu and out.logvar you return: return the "
                          f"encoder's (mu, logvar) and z = mu + exp(logvar / 2) * eps made from them{where}")
    eps = ((z - mu) / (0.5 * logvar).exp()).detach().to(F64)
    sigma = (0.5 * logvar).exp().detach().to(F64)
    seed_form = weights.to(F64) * (z.detach().to(F64) - sigma) / mu.detach().to(F64)  # z = mu * eps + sigma
    expect_close(grads[0], project(weights), name, what="gradient of z with respect to mu (z = mu + sigma * eps moves "
                 "one for one with mu)", dtype=dtype, probe=probe, axes=axes, known_mistakes=[
                     (project(seed_form), "Your z is mu * eps + sigma, the source notes' slip: the noise scales the standard "
                      "deviation, z = mu + sigma * eps.")])
    expect_close(grads[1], project(0.5 * weights.to(F64) * (z - mu).detach().to(F64)), name,
                 what="gradient of z with respect to logvar (z - mu = exp(logvar / 2) * eps)", dtype=dtype,
                 probe=probe, axes=axes, known_mistakes=[
                     (project(weights.to(F64) * (z - mu).detach().to(F64)), "Your z scales the noise by exp(logvar) (the "
                      "variance, or exp(logvar) / 2 with the brackets misplaced); the standard deviation sigma is "
                      "exp(logvar / 2)."),
                     (project(weights.to(F64) * (z - mu).detach().to(F64) / logvar.detach().to(F64)),
                      "Your z scales the noise by logvar itself; logvar is log sigma^2, so sigma = exp(logvar / 2)."),
                     (project(weights.to(F64) * (z - mu).detach().to(F64) * torch.sigmoid(logvar.detach().to(F64))
                              / F.softplus(logvar.detach().to(F64))), "Your z scales the noise by softplus(logvar); "
                      "the encoder's second output is a log-variance, so sigma = exp(logvar / 2).")])
    if eps.shape[0] > 1 and eps.shape[1] > 1:
        if bool((eps - eps[:1]).abs().max() < 1e-6):
            raise CheckFailed(f"{name}: every example got the same noise eps (one draw of shape (d,) for the whole "
                              f"batch); draw one eps per entry of mu, torch.randn_like(mu){where}")
        if bool((eps - eps[:, :1]).abs().max() < 1e-6):
            raise CheckFailed(f"{name}: the d coordinates of each code got the same noise eps (one draw per example, "
                              f"shape (B, 1)); draw one eps per entry of mu, torch.randn_like(mu){where}")
    if eps.numel() >= 500:
        mean, std = float(eps.mean()), float(eps.std())
        if abs(mean) > 0.2 or not 0.85 < std < 1.15:
            raise CheckFailed(f"{name}: the noise eps = (z - mu) / exp(logvar / 2) has mean {mean:.2f} and standard "
                              f"deviation {std:.2f} over {eps.numel()} draws; it should be standard normal, "
                              f"mean 0 and standard deviation 1 (torch.randn_like(mu) as it is: not torch.rand_like, "
                              f"no scale factor){where}")


# ---- the loss ----------------------------------------------------------------------------------------


def _padded_one_hot(y: torch.Tensor, k: int, d: int) -> torch.Tensor:
    code = F.one_hot(y.long(), k).to(F64)
    return code[:, :d] if d <= k else torch.cat([code, code.new_zeros(len(y), d - k)], 1)


def _name_a_kl_weight(loss: torch.Tensor, recon: torch.Tensor, kl: torch.Tensor, inputs: list[torch.Tensor],
                      name: str, probe: str) -> None:
    """Fail naming the weight if ``loss = recon + c * kl`` with ``c != 1`` (values and the gradients agree)."""
    __tracebackhide__ = True
    if not (loss.requires_grad and torch.isfinite(loss).all()) or float(kl.detach()) <= 0:
        return
    c = float((loss.detach().to(F64) - recon.detach()) / kl.detach())
    if not 1e-3 < c < 1e3 or abs(c - 1) < 1e-3:
        return
    try:
        got = gradient(loss, inputs, torch.ones((), dtype=F64))
    except Exception:  # noqa: BLE001 - the ordinary value check reports this loss
        return
    want = gradient(recon + c * kl, inputs, torch.ones((), dtype=F64))
    if all(g is not None and w is not None and _near(g, w, 1e-4) for g, w in zip(got, want)):
        raise CheckFailed(f"{name}()['loss']: wrong loss: the KL is weighted by {c:.3g} (a beta, or a division by "
                          f"some count); the negative bound weighs it by 1, loss = recon + kl [probe: {probe}]")


def cvae_loss(fn) -> None:
    """Check ``fn(x, y, out) -> {"loss": -mean ELBO, "recon": mean -log p(x|z,y), "kl": mean KL(q(z|x,y) || N(0, I))}``.

    The decoder's logits already depend on ``y``; with the prior ``p(z | y) = N(0, I)``
    the loss is chapter 4's negative ELBO and must not change when only ``y`` does.
    Probes as for chapter 4's ``vae_loss`` (float64, a batch of one, float32 with
    binary-like pixels, logits up to +-30 and extreme log-variances), each also with other
    labels. The hints name the seed's "+ KL", priors that depend on ``y`` (any other
    dependence on ``y`` is named as such), a KL computed from ``z`` or with the one-hot code
    counted as latent, the reversed KL, a squared error instead of the Bernoulli term,
    swapped arguments, the reductions (including a fixed batch size), a KL weight other
    than 1, and the KL's slips.
    """
    __tracebackhide__ = True
    name = "cvae_loss"
    g = torch.Generator().manual_seed(17)
    k = 10
    cases = [  # (probe, batch, d, dtype, logit scale, binary pixels, extreme values)
        ("float64, 6 images, d = 3", 6, 3, F64, 2.0, False, False),
        ("float64, 4 images, d = 12", 4, 12, F64, 2.0, False, False),
        ("float64, a batch of one image", 1, 5, F64, 2.0, False, False),
        ("float32, 8 images with mostly black and white pixels, d = 16", 8, 16, F32, 4.0, True, False),
        ("float32 logits from -30 to -15 and 15 to 30 and logvar from -12 to 8", 6, 8, F32, 1.0, True, True),
    ]
    for probe, batch, d, dtype, scale, binary, extreme in cases:
        x, logits, mu, logvar, z = _case(batch, d, dtype, g, logit_scale=scale, binary=binary, extreme=extreme)
        y = torch.randint(1, k, (batch,), generator=g)
        for t in (logits, mu, logvar):
            t.requires_grad_()
        out = VAEOutput(logits=logits, mu=mu, logvar=logvar, z=z)
        copies = snapshot(x, y, logits, mu, logvar, z)
        terms = call(fn, name, x, y, out, hints=VAE_HINTS)
        expect_unchanged([x, y, logits, mu, logvar, z], copies, ["x", "y", "out.logits", "out.mu", "out.logvar", "out.z"],
                         name)
        if not isinstance(terms, dict) or not {"loss", "recon", "kl"} <= set(terms):
            got = sorted(terms) if isinstance(terms, dict) else type(terms).__name__
            raise CheckFailed(f"{name} should return a dict with the keys 'loss', 'recon' and 'kl', got {got}")
        loss = expect_tensor(terms["loss"], f"{name}()['loss']")
        expect_shape(loss, (), f"{name}()['loss']", "one number for the batch (fit minimizes it)")
        again = call(fn, name, x, y, out, seed=1, hints=VAE_HINTS)
        if isinstance(again, dict) and isinstance(again.get("loss"), torch.Tensor) and not _same(again["loss"], loss):
            raise CheckFailed(f"{name} gives different values for the same inputs: the loss uses the closed-form KL and "
                              "the logits it is given; it draws nothing")

        x64, l64, m64, lv64, z64 = x.to(F64), logits.to(F64), mu.to(F64), logvar.to(F64), z.to(F64)
        y64 = y.to(F64)[:, None]
        var = lv64.exp()
        bce = F.binary_cross_entropy_with_logits(l64, x64, reduction="none").flatten(1)
        recon = bce.sum(1)
        kl = (0.5 * (var + m64.pow(2) - 1 - lv64)).sum(1)
        expected = (recon + kl).mean()
        code = _padded_one_hot(y, k, d)
        sampled_kl = (0.5 * (z64.pow(2) - (z64 - m64).pow(2) / var - lv64)).sum(1)
        y_priors = [  # slips that put y into the loss
            ((recon + (0.5 * (var + (m64 - y64).pow(2) - 1 - lv64)).sum(1)).mean(),
             "Your KL is to a prior centred at the label's value, N(y, I). In this model the prior ignores y, "
             "p(z | y) = N(0, I): the label reaches the loss only through the decoder's logits."),
            ((recon + (0.5 * (var + (m64 - code).pow(2) - 1 - lv64)).sum(1)).mean(),
             "Your KL is to a prior centred at the one-hot code of y. In this model the prior ignores y, "
             "p(z | y) = N(0, I): the label reaches the loss only through the decoder's logits."),
        ]
        known = [
            ((recon - kl).mean(), "The KL has the sign of the source notes' '+ KL(q || p(z, y))': the bound is "
             "log p(x | y) >= E[log p(x | z, y)] - KL(q(z | x, y) || p(z | y)), so the loss, its negative, is "
             "reconstruction + KL. With '- KL' in the loss, training would push q(z | x, y) away from the prior."),
            (-expected, "That is +ELBO; fit minimizes the loss, so return the negative ELBO."),
            ((-recon + kl).mean(), "The reconstruction enters with the wrong sign: the loss is -log p(x | z, y) + KL."),
            *y_priors,
            ((recon + kl + 0.5).mean(), "Your KL counts the one-hot code as if it were latent coordinates with mean "
             "0/1 and variance 1 (+1/2 per example): the KL is over z alone, from mu and logvar."),
            ((recon + (0.5 * (var + z64.pow(2) - 1 - lv64)).sum(1)).mean(), "The KL's mean term uses the sampled z; "
             "the closed form uses the encoder's mean mu."),
            ((recon + sampled_kl).mean(), "The KL is estimated from the sample z; use the closed form from mu and "
             "logvar."),
            ((recon + (0.5 * (1 / var + m64.pow(2) / var - 1 + lv64)).sum(1)).mean(), "That is KL(p(z) || q(z | x, "
             "y)), the arguments swapped: the ELBO has KL(q(z | x, y) || p(z))."),
            ((bce.mean(1) + kl).mean(), "The reconstruction is averaged over pixels while the KL is summed: that "
             "silently multiplies the KL's weight by the number of pixels."),
            ((recon + kl).sum(), "The loss is summed over the batch; average it instead."),
            (recon.mean() + kl.sum(), "The KL is summed over the batch while the reconstruction is averaged."),
            ((recon + (0.5 * (var + m64.pow(2) - 1 - lv64)).mean(1)).mean(), "The KL is averaged over latent "
             "dimensions; sum it."),
            (recon.mean(), "The KL term is missing."),
            (bce.sum() + kl.mean(), "The reconstruction is summed over the batch (reduction='sum') while the KL is "
             "averaged: average both over the batch."),
            ((((torch.sigmoid(l64) - x64) ** 2).flatten(1).sum(1) + kl).mean(), "The reconstruction term is a squared "
             "error between sigmoid(logits) and x; this decoder is Bernoulli, so -log p(x | z, y) is the binary "
             "cross-entropy of the logits, F.binary_cross_entropy_with_logits(logits, x)."),
            ((((l64 - x64) ** 2).flatten(1).sum(1) + kl).mean(), "The reconstruction term is a squared error between "
             "the logits and x; this decoder is Bernoulli, so -log p(x | z, y) is the binary cross-entropy of the "
             "logits, F.binary_cross_entropy_with_logits(logits, x)."),
            ((F.binary_cross_entropy_with_logits(x64, torch.sigmoid(l64), reduction="none").flatten(1).sum(1) + kl)
             .mean(), "The arguments of F.binary_cross_entropy_with_logits are swapped: the logits come first, the "
             "target x second."),
            ((F.binary_cross_entropy_with_logits(torch.sigmoid(l64), x64, reduction="none").flatten(1).sum(1) + kl)
             .mean(), "The logits went through a sigmoid before a loss that applies its own: pass the logits directly."),
            *[((recon + wrong).mean(), f"In the KL term: {hint[0].lower()}{hint[1:]}") for wrong, hint in
              kl_variants(m64, lv64)],
        ]
        expect_dtype(loss, dtype, f"{name}()['loss']")
        hint_probe = f"{probe}. {LARGE_LOGITS}" if extreme else probe
        other = (y + 1 + torch.randint(0, k - 1, (batch,), generator=g)) % k  # every label changed
        moved = call(fn, name, x, other, out, hints=VAE_HINTS)
        depends_on_y = (isinstance(moved, dict) and isinstance(moved.get("loss"), torch.Tensor)
                        and bool(torch.isfinite(loss).all()) and bool(torch.isfinite(moved["loss"]).all())
                        and not _near(moved["loss"], loss, 1e-9))
        y_message = (f"{name}: the loss changes when only y changes (same x and the same decoder output): with the "
                     "prior p(z | y) = N(0, I) the label reaches the loss only through the logits, which the decoder "
                     f"computed from y already [probe: {probe}]")
        if depends_on_y:  # only the slips that put y into the loss can explain it; otherwise name the y
            for wrong, hint in y_priors:
                if _near(loss, wrong, 1e-5):
                    raise CheckFailed(f"{name}()['loss']: wrong loss. {hint} [probe: {probe}]")
            raise CheckFailed(y_message)
        fixed = [m for m in (32, 50, 64, 100, 128, 256) if m != batch and _near(loss, (recon + kl).sum() / m, 1e-6)]
        if fixed:
            raise CheckFailed(f"{name}()['loss']: wrong loss: the batch's sum divided by {fixed[0]}, a fixed batch size; "
                              f"this batch has {batch} examples (the last batch of an epoch is often smaller): "
                              f"average over the examples given, .mean() or / len(x) [probe: {probe}]")
        try:
            expect_close(loss, expected, f"{name}()['loss']", what="loss", known_mistakes=known, dtype=dtype,
                         probe=hint_probe, nonfinite_hint="At large logits log(sigmoid(l)) or log(1 - sigmoid(l)) is "
                         "log(0): compute the reconstruction term from the logits with "
                         "F.binary_cross_entropy_with_logits (or F.logsigmoid).")
        except CheckFailed as failure:
            if ": yours " in str(failure):  # the generic message, no catalogued slip explains it: a KL weight?
                _name_a_kl_weight(loss, recon.mean(), kl.mean(), [logits, mu, logvar], name, probe)
            raise
        for key, want, mistakes in (
            ("recon", recon.mean(), [(-recon.mean(), "'recon' is the reconstruction loss -log p(x | z, y), a positive "
                                      "number; yours has the opposite sign."),
                                     (bce.mean(), "'recon' is averaged over the pixels; sum over the pixels of each "
                                      "image, then average over the batch.")]),
            ("kl", kl.mean(), [(kl.sum(), "'kl' is summed over the batch; average it."),
                               (-kl.mean(), "'kl' is the KL itself, a number >= 0, whatever its sign in the loss.")]),
        ):
            got = expect_tensor(terms[key], f"{name}()['{key}']")
            expect_shape(got, (), f"{name}()['{key}']", "the batch average, for the training curves")
            expect_close(got, want, f"{name}()['{key}']", known_mistakes=mistakes, dtype=dtype, probe=probe)
        weights = torch.ones((), dtype=F64)
        inputs = [logits, mu, logvar]
        got = student_gradient(loss, inputs, weights, name)
        expect_gradients(got, gradient(expected, inputs, weights), ["the logits", "mu", "logvar"], name, dtype=dtype,
                         probe=hint_probe, axes=[("example", "channel", "row", "column"), ("example", "coordinate"),
                                                 ("example", "coordinate")])
    passed(name, f"loss, recon and kl match -ELBO with KL(q(z | x, y) || N(0, I)) on {len(cases)} probes, the same "
                 "for other labels, with gradients")


EXERCISES = {"cvae_forward": cvae_forward, "cvae_loss": cvae_loss}
