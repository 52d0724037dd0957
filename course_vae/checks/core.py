"""Building blocks of the exercise checkers.

A checker probes the student's function the way a careful grader would: at ordinary
inputs first (where the hints for the common slips can recognise them), then at the
edges a real model reaches (saturated units, large logits, tiny and huge variances),
at every rank the chapter itself uses, and in both float64 and float32. Each probe
compares the result with an oracle (a closed form, ``torch.distributions``, the
package's reference): dtype and shape first, then values, then gradients. A failed
check raises :class:`CheckFailed` (an ``AssertionError``) whose message says what is
wrong, in the student's terms and without giving the answer away; a passed check
prints one short line.

Dtype policy (every checker follows it)
---------------------------------------
* **The result has the dtype of the inputs**: float64 in, float64 out; float32 in,
  float32 out. Computing internally in another dtype is fine if the result is cast
  back. A result in another dtype fails with "compute in the input's dtype".
* **float64 probes test float64 accuracy**: the result must match the float64 oracle to
  ``RTOL[float64] = 1e-7`` of the reference's scale (its largest entry). A float64
  result that is off by more than that but less than ``PRECISION_BAND = 1e-4`` of the
  scale carries the signature of a step done in float32 (``torch.tensor(...)`` or
  ``torch.zeros(...)`` without ``dtype=``, ``.float()``) or of an epsilon added for
  safety; it fails with "compute in the input's dtype", never with "wrong values" or
  "wrong gradient".
* **float32 probes test float32 accuracy**: the course's models train in float32, so
  every checker also calls the function with float32 inputs and compares with the float64
  oracle evaluated at the same (float32) inputs, to ``RTOL[float32] = 1e-5`` of the scale.
  Numerically unstable formulas (``log(sigmoid(l))``, ``1 - sigmoid(l)`` at large
  logits) fail there.
* float32 is legitimate where it cannot be seen: a constant rounded to float32 that
  changes a float64 result by less than ``1e-7`` of its scale passes (where it changes
  more, e.g. ``1 - torch.tensor(rho)`` inside a KL with cancellation, the student is
  told to compute in the input's dtype). Random noise (``reparameterize``) may be drawn
  in float32; the draw must still come back in ``mu``'s dtype.

Tolerances are relative to the scale of the whole reference tensor (plus a tiny
absolute ``ATOL``), so entries near zero, such as a gradient where the penalty is at its
minimum, are not held to a relative precision no computation has.

Every student call goes through :func:`call`, which seeds torch's global RNG (so that
checks are deterministic) and restores the caller's RNG state, default dtype and grad
mode afterwards, and turns a crash into a :class:`CheckFailed` with the cause.
Failures report the position of the worst entry by its meaning ("example 2,
coordinate 1"), never by a flat index.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence

import torch
from torch import nn

F64, F32 = torch.float64, torch.float32
RTOL = {F64: 1e-7, F32: 1e-5}
ATOL = {F64: 1e-12, F32: 1e-7}
PRECISION_BAND = 1e-4

Axes = Sequence[str] | Callable[[tuple[int, ...]], str] | None


class CheckFailed(AssertionError):
    """The student's function disagrees with the reference; the message says how."""


# Crashes whose cause can be named: (words in torch's message, what to tell the student).
CRASH_HINTS: list[tuple[str, str]] = [
    ("a leaf Variable that requires grad is being used in an in-place operation",
     "An in-place operation (+=, -=, *=, x[...] = ..., or a method ending in _ such as .clamp_()) changed an input "
     "that requires grad; write it out of place (x = x - y) so the caller's tensor and the graph stay intact."),
    ("modified by an inplace operation",
     "An in-place operation (+=, *=, x[...] = ..., or a method ending in _ such as .clamp_()) overwrote a tensor that "
     "autograd had saved for the backward pass; use the out-of-place form (y = y * s, p = p.clamp(...))."),
    ("does not require grad",
     "torch.autograd.grad was asked for the derivative with respect to a tensor that does not require grad: "
     "make it one, e.g. x = x.detach().requires_grad_(), before computing anything from it."),
    ("backward through the graph a second time",
     "The graph was freed by an earlier torch.autograd.grad or .backward(); pass create_graph=True (which keeps it) "
     "or retain_graph=True to every call but the last."),
    ("must be Tensor, not float",
     "A Python float is not a tensor: use math.log / math.exp on it, or turn it into a tensor of the input's dtype "
     "(x.new_tensor(value))."),
    ("Dimension out of range",
     "Your function assumes a number of dimensions that this input does not have; the chapters call it with the "
     "shapes listed above, so write it for all of them (e.g. reduce with flatten(1) or dim=-1, not fixed indices)."),
    ("tuple index out of range",
     "Your function reads a size that this input does not have (e.g. x.shape[1] of a 1-D tensor); the chapters call "
     "it with the shapes listed above, so write it for all of them."),
]


def describe(value: object) -> str:
    """A short description of a call argument, for messages."""
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, nn.Module):
        return f"a {type(value).__name__} module"
    if callable(value):
        return "a function"
    if isinstance(value, float):
        return f"{value:.4g}"
    return type(value).__name__


def call(fn: Callable, name: str, *args, seed: int = 0, hints: Sequence[tuple[str, str]] = (), **kwargs):
    """Call the student's function, turning a stub or a crash into a clear failure.

    The global RNG is seeded with ``seed`` for the call (so checks are deterministic)
    and, like the default dtype and the grad mode, restored afterwards: a checker never
    changes the notebook's state. ``hints`` adds ``(words, hint)`` pairs to
    :data:`CRASH_HINTS` for crashes typical of one exercise.
    """
    __tracebackhide__ = True
    default_dtype, grad_enabled = torch.get_default_dtype(), torch.is_grad_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise CheckFailed(
                f"{name} is not implemented yet: replace the `raise NotImplementedError` line with your code."
            ) from None
        except Exception as err:  # a crash in student code is a failed check, with its cause
            text = str(err).strip().splitlines()[0] if str(err).strip() else ""
            text = text if len(text) <= 300 else text[:297] + "..."
            inputs = "; ".join(describe(a) for a in args)
            message = f"{name} raised {type(err).__name__}: {text} (called with: {inputs})"
            for words, hint in [*hints, *CRASH_HINTS]:
                if words in str(err):
                    message += f". {hint}"
                    break
            raise CheckFailed(message) from err
        finally:
            torch.set_default_dtype(default_dtype)
            torch.set_grad_enabled(grad_enabled)


def expect_tensor(value: object, name: str) -> torch.Tensor:
    """Fail unless ``value`` is a floating-point tensor."""
    __tracebackhide__ = True
    if isinstance(value, (list, tuple)):
        raise CheckFailed(
            f"{name} should return one torch.Tensor, got a {type(value).__name__}: combine the numbers with "
            "torch.stack([...]) (which keeps their dtype and graph)"
        )
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{name} should return a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise CheckFailed(f"{name} returned a {str(value.dtype).replace('torch.', '')} tensor; it should hold floating-point numbers")
    return value


def expect_shape(value: torch.Tensor, shape: Sequence[int], name: str, meaning: str) -> None:
    """Fail unless ``value.shape == shape``; ``meaning`` explains the expected shape."""
    __tracebackhide__ = True
    if tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{name} returned shape {tuple(value.shape)}, expected {tuple(shape)}: {meaning}")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def expect_dtype(value: torch.Tensor, dtype: torch.dtype, name: str) -> None:
    """Fail unless the result has the inputs' dtype (the dtype policy above)."""
    __tracebackhide__ = True
    if value.dtype == dtype:
        return
    cause = (
        "a tensor made with torch.tensor(...), torch.zeros(...) or torch.ones(...) without dtype= is float32, and "
        "so is anything after .float(); make such tensors in the input's dtype (x.new_zeros(...), "
        "torch.zeros(..., dtype=x.dtype))"
        if value.dtype == F32
        else "convert an internal float64 result back with .to(x.dtype)"
    )
    raise CheckFailed(
        f"{name} returned {_dtype_name(value.dtype)} for {_dtype_name(dtype)} inputs: compute in the input's "
        f"dtype; {cause}."
    )


def locate(index: tuple[int, ...], axes: Axes = None) -> str:
    """Name a position by its meaning: ``(2, 1)`` with ``("example", "coordinate")`` is
    ``"example 2, coordinate 1"``."""
    if not index:
        return ""
    if callable(axes):
        return axes(index)
    names = list(axes) if axes is not None else ["example", "entry"]
    if len(names) >= len(index):
        return ", ".join(f"{axis} {i}" for axis, i in zip(names, index))
    head = ", ".join(f"{axis} {i}" for axis, i in zip(names[:-1], index))
    rest = index[len(names) - 1 :]
    tail = f"{names[-1]} {rest}" if len(rest) > 1 else f"{names[-1]} {rest[0]}"
    return f"{head}, {tail}" if head else tail


IMAGE_AXES = ("example", "channel", "row", "column")


def _unravel(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _error(actual: torch.Tensor, expected: torch.Tensor) -> tuple[float, float, tuple[int, ...]]:
    """Largest absolute difference, the reference's scale and the worst position."""
    diff = (actual - expected).abs()
    worst = int(diff.flatten().argmax()) if diff.numel() else 0
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    return float(diff.flatten()[worst]) if diff.numel() else 0.0, scale, _unravel(worst, expected.shape)


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> bool:
    if actual.shape != expected.shape:
        return False
    err, scale, _ = _error(actual, expected)
    return err <= atol + rtol * scale


def expect_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    name: str,
    *,
    what: str = "values",
    known_mistakes: Sequence[tuple[torch.Tensor, str]] = (),
    dtype: torch.dtype = F64,
    probe: str = "",
    axes: Axes = None,
    nonfinite_hint: str = "",
) -> None:
    """Fail unless ``actual`` matches ``expected`` to the tolerance of ``dtype``.

    ``dtype`` is the dtype of the probe's inputs (it sets the tolerance; ``expected`` is
    the float64 oracle). ``known_mistakes`` pairs the output of a typical wrong
    implementation with a hint; when the student's output matches one of them, that
    hint is the message. ``probe`` says what is special about the inputs and ``axes``
    names the dimensions, so the message can say where the worst difference is.
    Tensors are compared without their autograd history.
    """
    __tracebackhide__ = True
    expected = expected.detach().to(F64)
    actual = actual.detach().to(F64)
    rtol, atol = RTOL[dtype], ATOL[dtype]
    where_probe = f" [probe: {probe}]" if probe else ""
    bad = ~torch.isfinite(actual) & torch.isfinite(expected)
    if bad.any():
        position = locate(_unravel(int(bad.flatten().nonzero()[0]), actual.shape), axes)
        at = f" at {position}" if position else ""
        hint = f" {nonfinite_hint}" if nonfinite_hint else ""
        raise CheckFailed(f"{name} returned NaN or infinite {what}{at} where the reference is finite.{hint}{where_probe}")
    if _close(actual, expected, rtol, atol):
        return
    for wrong, hint in known_mistakes:
        wrong = wrong.detach().to(F64)
        if _close(actual, wrong, max(rtol, 1e-5), atol) and torch.isfinite(wrong).all():
            raise CheckFailed(f"{name}: wrong {what}. {hint}{where_probe}")
    err, scale, index = _error(actual, expected)
    relative = err / scale if scale > 0 else math.inf
    if dtype == F64 and relative <= PRECISION_BAND:
        raise CheckFailed(
            f"{name}: your {what} agree with the reference only to {relative:.0e} of their size, which is float32 "
            "precision, not float64: compute in the input's dtype (float64 here). A tensor made with "
            "torch.tensor(...), torch.zeros(...) or torch.ones(...) without dtype= is float32, and so is anything "
            "after .float(); make such tensors with dtype=x.dtype or x.new_tensor(...). (An epsilon added for "
            f"safety, e.g. log(p + 1e-8), shifts the result the same way: leave it out.){where_probe}"
        )
    position = locate(index, axes)
    at = f" at {position}" if position else ""
    raise CheckFailed(
        f"{name}: wrong {what}{at}: yours {float(actual[index]):.6g}, the reference {float(expected[index]):.6g}"
        f"{where_probe}"
    )


def gradient(output: torch.Tensor, inputs: Sequence[torch.Tensor], weights: torch.Tensor) -> list[torch.Tensor | None]:
    """Gradients of ``(output * weights).sum()`` with respect to ``inputs`` (for the oracle).

    Inputs that the output does not depend on get ``None``; an output with no graph at
    all gets all ``None``.
    """
    if not output.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad((output * weights.to(output.dtype)).sum(), inputs, allow_unused=True, retain_graph=True))


def student_gradient(output: torch.Tensor, inputs: Sequence[torch.Tensor], weights: torch.Tensor, name: str) -> list[torch.Tensor | None]:
    """:func:`gradient` of the student's result, with autograd's failures explained."""
    __tracebackhide__ = True
    try:
        return gradient(output, inputs, weights)
    except Exception as err:  # noqa: BLE001 - autograd runs the student's graph (and any hooks in it)
        text = str(err)
        for words, hint in CRASH_HINTS:
            if words in text:
                raise CheckFailed(f"{name}: the gradient of your result cannot be computed. {hint}") from err
        first = text.strip().splitlines()[0] if text.strip() else ""
        raise CheckFailed(f"{name}: the gradient of your result cannot be computed: {type(err).__name__}: {first}") from err


def no_gradient(name: str, input_name: str) -> str:
    """The message for a result that does not depend differentiably on an input."""
    return (f"{name}: no gradient flows back to {input_name}; keep every step a differentiable torch operation "
            "(no .detach(), .item(), numpy or torch.tensor(...) rebuilding)")


def expect_gradients(
    actual: Sequence[torch.Tensor | None],
    expected: Sequence[torch.Tensor | None],
    input_names: Sequence[str],
    name: str,
    *,
    dtype: torch.dtype = F64,
    probe: str = "",
    axes: Sequence[Axes] | None = None,
) -> None:
    """Fail unless each input's gradient exists and matches the reference gradient."""
    __tracebackhide__ = True
    for i, (got, want, input_name) in enumerate(zip(actual, expected, input_names)):
        if got is None and (want is None or not bool(want.detach().any())):
            continue  # the reference does not depend on this input either (e.g. a last layer's bias)
        if got is None:
            raise CheckFailed(no_gradient(name, input_name))
        if want is None:
            want = torch.zeros_like(got)
        expect_close(got, want, name, what=f"gradient with respect to {input_name}", dtype=dtype, probe=probe,
                     axes=axes[i] if axes is not None else None)


def weights_like(output: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random weights in [0.5, 1.5) shaped like ``output``, so every output entry gets tested."""
    return torch.rand(output.shape, generator=generator, dtype=F64) + 0.5


def expect_values_and_gradients(
    actual: torch.Tensor,
    expected: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    input_names: Sequence[str],
    name: str,
    generator: torch.Generator,
    *,
    known_mistakes: Sequence[tuple[torch.Tensor, str]] = (),
    dtype: torch.dtype = F64,
    probe: str = "",
    axes: Axes = None,
    input_axes: Sequence[Axes] | None = None,
    nonfinite_hint: str = "",
) -> None:
    """Dtype, values (with the known-mistake hints), then gradients with respect to ``inputs``.

    ``dtype`` is the dtype of the probe's inputs; ``expected`` is computed in float64
    (from float64 copies of the inputs that stay connected to them). The gradients are
    those of ``sum(actual * w)`` for random weights ``w`` shaped like ``actual``, so
    every output entry is tested.
    """
    __tracebackhide__ = True
    if not actual.requires_grad and any(t.requires_grad for t in inputs):
        raise CheckFailed(no_gradient(name, input_names[0]))
    expect_dtype(actual, dtype, name)
    expect_close(actual, expected, name, known_mistakes=known_mistakes, dtype=dtype, probe=probe, axes=axes,
                 nonfinite_hint=nonfinite_hint)
    weights = weights_like(actual, generator)
    got = student_gradient(actual, inputs, weights, name)
    expect_gradients(got, gradient(expected, inputs, weights), input_names, name, dtype=dtype, probe=probe,
                     axes=input_axes)


def snapshot(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Copies of the inputs handed to the student, to detect in-place changes."""
    return [t.detach().clone() for t in tensors]


def expect_unchanged(passed: Sequence[torch.Tensor], copies: Sequence[torch.Tensor], input_names: Sequence[str], name: str) -> None:
    """Fail if the student's function changed one of its inputs in place."""
    __tracebackhide__ = True
    for tensor, copy, input_name in zip(passed, copies, input_names):
        if tensor.shape != copy.shape or not torch.equal(tensor.detach(), copy):
            raise CheckFailed(
                f"{name} changed its input {input_name} in place (with +=, -=, x[...] = ... or a method ending in _): "
                "the caller still needs it (a training loop reuses the batch); work on new tensors instead"
            )


def expect_deterministic(fn: Callable, name: str, args: Sequence, first: torch.Tensor, why: str) -> None:
    """Fail if a second call with the same inputs (and another RNG seed) gives other values."""
    __tracebackhide__ = True
    again = call(fn, name, *args, seed=1)
    if (isinstance(again, torch.Tensor) and again.shape == first.shape
            and not torch.allclose(again.detach(), first.detach(), rtol=0, atol=0, equal_nan=True)):
        raise CheckFailed(f"{name} gives different values for the same inputs: {why}")


def passed(name: str, detail: str) -> None:
    """Print the success message of a checker, wrapped to the book's 76-character lines."""
    print(textwrap.fill(f"✓ {name}: {detail}", width=76, subsequent_indent="  "))
