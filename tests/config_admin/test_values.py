"""Parsing configuration values: types, units, ranges, and refusals with stable codes."""

import pytest

from config_admin.values import ConfigError, ParameterRule, parse_value, typed_value

INTEGER = ParameterRule("inference_batch_size", "integer", "10", "1000", "100")
FLOAT = ParameterRule("vector_similarity_threshold", "float", "0.0", "1.0", "0.3")
MEMORY = ParameterRule("maintenance_work_mem", "text", "64MB", "2GB", "256MB")
BOOLEAN = ParameterRule("feature_flag", "boolean", None, None, "false")
TEXT = ParameterRule("greeting", "text", None, None, "hello")


@pytest.mark.parametrize(("rule", "raw", "stored", "typed"), [
    (INTEGER, "100", "100", 100),
    (INTEGER, " 10 ", "10", 10),
    (INTEGER, "+1000", "1000", 1000),
    (FLOAT, "0.5", "0.5", 0.5),
    (FLOAT, "1e-1", "0.1", 0.1),
    (FLOAT, ".25", "0.25", 0.25),
    (FLOAT, "1", "1.0", 1.0),
    (MEMORY, "256MB", "256MB", "256MB"),
    (MEMORY, "64MB", "64MB", "64MB"),
    (MEMORY, "2GB", "2GB", "2GB"),
    (MEMORY, "1048576kB", "1048576kB", "1048576kB"),
    (MEMORY, "512 MB", "512MB", "512 MB"),
    (BOOLEAN, "Yes", "true", True),
    (BOOLEAN, "off", "false", False),
    (BOOLEAN, "1", "true", True),
    (BOOLEAN, "F", "false", False),
    (TEXT, "  hi there ", "hi there", "hi there"),
])
def test_good_values_are_stored_canonically(rule, raw, stored, typed):
    canonical, value = parse_value(rule, raw)
    assert canonical == stored
    assert typed_value(rule, canonical) == (typed if not isinstance(typed, str) else canonical)


@pytest.mark.parametrize(("rule", "raw", "code"), [
    (INTEGER, "", "RG-CFG-004"),
    (INTEGER, "   ", "RG-CFG-004"),
    (INTEGER, "abc", "RG-CFG-002"),
    (INTEGER, "100abc", "RG-CFG-002"),
    (INTEGER, "1.5", "RG-CFG-002"),
    (INTEGER, "1e3", "RG-CFG-002"),
    (INTEGER, "5000", "RG-CFG-003"),
    (INTEGER, "9", "RG-CFG-003"),
    (INTEGER, "99999999999999999999999", "RG-CFG-002"),
    (FLOAT, "NaN", "RG-CFG-006"),
    (FLOAT, "inf", "RG-CFG-006"),
    (FLOAT, "-Infinity", "RG-CFG-006"),
    (FLOAT, "1e309", "RG-CFG-006"),
    (FLOAT, "0.5x", "RG-CFG-002"),
    (FLOAT, "0,5", "RG-CFG-002"),
    (FLOAT, "1.5", "RG-CFG-003"),
    (FLOAT, "-0.1", "RG-CFG-003"),
    (MEMORY, "3GB", "RG-CFG-003"),
    (MEMORY, "32MB", "RG-CFG-003"),
    (MEMORY, "256", "RG-CFG-005"),
    (MEMORY, "256mb", "RG-CFG-005"),
    (MEMORY, "256 MiB", "RG-CFG-005"),
    (MEMORY, "256MBs", "RG-CFG-005"),
    (MEMORY, "-1MB", "RG-CFG-005"),
    (BOOLEAN, "maybe", "RG-CFG-002"),
    (TEXT, "", "RG-CFG-004"),
    (TEXT, "a\x00b", "RG-CFG-002"),
    # Digits of other scripts: int() and float() take them, PostgreSQL does not.
    (INTEGER, "\u0663\u0660\u0660", "RG-CFG-002"),  # ٣٠٠
    (FLOAT, "\u0660.\u0665", "RG-CFG-002"),  # ٠.٥
    (MEMORY, "\u0663\u0660\u0660MB", "RG-CFG-005"),
    (MEMORY, "\uff13\uff10\uff10MB", "RG-CFG-005"),  # fullwidth ３００
    (INTEGER, "9" * 5000, "RG-CFG-002"),
    (FLOAT, "9" * 5000, "RG-CFG-006"),
    (INTEGER, "1\x00", "RG-CFG-002"),
])
def test_bad_values_are_refused_with_a_code_naming_parameter_value_and_range(rule, raw, code):
    with pytest.raises(ConfigError) as excinfo:
        parse_value(rule, raw)
    error = excinfo.value
    assert error.code == code
    message = str(error)
    assert message.startswith(code + ": ")
    assert rule.name in message and repr(raw) in message
    assert f"allowed range {rule.range_text()}" in message


def test_memory_sizes_compare_by_size_not_text():
    assert parse_value(MEMORY, "1GB")[0] == "1GB"  # "1GB" < "64MB" as text, but 1 GB is within 64MB..2GB
    assert parse_value(MEMORY, "2097152kB")[0] == "2097152kB"  # exactly 2GB
    with pytest.raises(ConfigError):
        parse_value(MEMORY, "2097153kB")


def test_range_text():
    assert INTEGER.range_text() == "10..1000"
    assert TEXT.range_text() == "any"
    assert MEMORY.kind == "memory" and TEXT.kind == "text"
