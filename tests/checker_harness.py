"""Helpers to prove that a checker accepts right answers and rejects wrong ones."""

from __future__ import annotations

import contextlib
import io

import pytest

from course_vae.checks import CheckFailed


def assert_rejects(checker, wrong, expected_words=()):
    """The checker must fail on ``wrong`` with a CheckFailed whose message has the words.

    Every message must also name positions by meaning, never as a flat index.
    """
    with pytest.raises(CheckFailed) as failure:
        checker(wrong)
    message = str(failure.value)
    for word in expected_words:
        assert word in message, f"checker message {message!r} lacks {word!r}"
    assert "flat index" not in message
    return message


def assert_accepts(checker, right):
    """The checker must pass ``right`` and print its one-line success message."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            checker(right)
        except CheckFailed as failure:  # pragma: no cover - the message is the point of the failure
            pytest.fail(f"the checker rejected a correct implementation: {failure}")
    assert out.getvalue().startswith("✓ "), out.getvalue()
