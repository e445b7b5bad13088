"""kgsite.numbers: whole numbers from untrusted text."""

import pytest

from kgsite.numbers import whole_number


@pytest.mark.parametrize("value, expected", [
    ("1", 1), (" 42 ", 42), ("007", 7), (400, 400), ("0" * 5000 + "3", 3),
    ("0", None), ("401", None), ("²", None), ("١", None), ("１", None), ("-1", None), ("+1", None), ("1.0", None),
    ("1e3", None), ("", None), (None, None), ("9" * 5000, None), ("4\x00", None),
])
def test_whole_number_takes_ascii_digits_in_range_only(value, expected):
    assert whole_number(value, 1, 400) == expected
