"""Building blocks of the exercise checkers.

A checker calls the student's function on fixed random inputs and compares the result
with an oracle (a closed form, ``torch.distributions``, the package's reference): shapes
first, then values, then gradients. A failed check raises :class:`CheckFailed` (an
``AssertionError``) whose message says what is wrong without giving the answer away;
a passed check prints one short line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


class CheckFailed(AssertionError):
    """The student's function disagrees with the reference; the message says how."""


def call(fn: Callable, name: str, *args, **kwargs):
    """Call the student's function, turning a stub or a crash into a clear failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(
            f"{name} is not implemented yet: replace the `raise NotImplementedError` line with your code."
        ) from None
    except Exception as err:  # a crash in student code is a failed check, with its cause
        shapes = ", ".join(str(tuple(a.shape)) for a in args if isinstance(a, torch.Tensor))
        raise CheckFailed(f"{name} raised {type(err).__name__}: {err} (inputs of shapes {shapes})") from err


def expect_tensor(value: object, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{name} should return a torch.Tensor, got {type(value).__name__}")
    return value


def expect_shape(value: torch.Tensor, shape: Sequence[int], name: str, meaning: str) -> None:
    """Fail unless ``value.shape == shape``; ``meaning`` explains the expected shape."""
    if tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{name} returned shape {tuple(value.shape)}, expected {tuple(shape)}: {meaning}")


def expect_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    name: str,
    *,
    what: str = "values",
    known_mistakes: Sequence[tuple[torch.Tensor, str]] = (),
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Fail unless ``actual`` matches ``expected``.

    ``known_mistakes`` pairs the output of a typical wrong implementation with a hint;
    when the student's output matches one of them, that hint is the message. Tensors are
    compared without their autograd history.
    """
    expected = expected.detach()
    actual = actual.detach().to(expected.dtype)
    if not torch.isfinite(actual).all():
        raise CheckFailed(f"{name} returned NaN or infinite {what} where the reference is finite")
    if torch.allclose(actual, expected, rtol=rtol, atol=atol):
        return
    for wrong, hint in known_mistakes:
        wrong = wrong.detach()
        if wrong.shape == actual.shape and torch.allclose(actual, wrong.to(actual.dtype), rtol=rtol, atol=atol):
            raise CheckFailed(f"{name}: wrong {what}. {hint}")
    diff = (actual - expected).abs()
    worst = int(diff.flatten().argmax())
    raise CheckFailed(
        f"{name}: wrong {what}; the largest difference from the reference is "
        f"{diff.flatten()[worst].item():.3g} (at flat index {worst})"
    )


def gradient(output: torch.Tensor, inputs: Sequence[torch.Tensor], weights: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of ``(output * weights).sum()`` with respect to ``inputs``.

    Inputs that the output does not depend on get ``None``; a student's output with no
    graph at all gets all ``None``.
    """
    if not output.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad((output * weights).sum(), inputs, allow_unused=True))


def expect_gradients(
    actual: Sequence[torch.Tensor | None],
    expected: Sequence[torch.Tensor],
    input_names: Sequence[str],
    name: str,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Fail unless each input's gradient exists and matches the reference gradient."""
    for got, want, input_name in zip(actual, expected, input_names):
        if got is None:
            raise CheckFailed(
                f"{name}: no gradient flows back to {input_name}; keep every step a differentiable "
                f"torch operation (no .detach(), .item(), numpy or torch.tensor(...) rebuilding)"
            )
        expect_close(got, want, name, what=f"gradient with respect to {input_name}", rtol=rtol, atol=atol)


def expect_values_and_gradients(
    actual: torch.Tensor,
    expected: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    input_names: Sequence[str],
    name: str,
    generator: torch.Generator,
    *,
    known_mistakes: Sequence[tuple[torch.Tensor, str]] = (),
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Values first (with the known-mistake hints), then gradients with respect to ``inputs``.

    The gradients are those of ``sum(actual * w)`` for random weights ``w`` shaped like
    ``actual``, so every output entry is tested.
    """
    expect_close(actual, expected, name, known_mistakes=known_mistakes, rtol=rtol, atol=atol)
    weights = torch.rand(actual.shape, generator=generator, dtype=expected.dtype) + 0.5
    expect_gradients(gradient(actual, inputs, weights), gradient(expected, inputs, weights), input_names, name,
                     rtol=rtol, atol=atol)


def passed(name: str, detail: str) -> None:
    """Print the one-line success message of a checker."""
    print(f"✓ {name}: {detail}")
