"""Helpers to prove that a checker accepts right answers and rejects wrong ones."""

from __future__ import annotations

import pytest

from course_vae.checks import CheckFailed


def assert_rejects(checker, wrong, expected_words=()):
    """The checker must fail on ``wrong`` with a CheckFailed whose message has the words."""
    with pytest.raises(CheckFailed) as failure:
        checker(wrong)
    message = str(failure.value)
    for word in expected_words:
        assert word in message, f"checker message {message!r} lacks {word!r}"
    return message
