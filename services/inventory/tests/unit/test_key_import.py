from inventory.domain.keys import MAX_KEY_LENGTH, is_valid_key, parse_import


def test_one_key_per_line_in_upload_order() -> None:
    parsed = parse_import("AAA-1\nBBB-2\nCCC-3\n")
    assert parsed.keys == ["AAA-1", "BBB-2", "CCC-3"]
    assert (parsed.duplicates, parsed.invalid) == (0, 0)


def test_leading_bom_is_stripped() -> None:
    parsed = parse_import("\ufeffAAA-1\nBBB-2")
    assert parsed.keys == ["AAA-1", "BBB-2"]


def test_crlf_and_lone_cr_line_ends_are_tolerated() -> None:
    parsed = parse_import("AAA-1\r\nBBB-2\r\nCCC-3\rDDD-4\r\n")
    assert parsed.keys == ["AAA-1", "BBB-2", "CCC-3", "DDD-4"]
    assert parsed.invalid == 0


def test_blank_and_whitespace_only_lines_are_ignored_not_counted() -> None:
    parsed = parse_import("\n\nAAA-1\n   \n\t\n\r\nBBB-2\n\n")
    assert parsed.keys == ["AAA-1", "BBB-2"]
    assert (parsed.duplicates, parsed.invalid) == (0, 0)


def test_surrounding_spaces_are_trimmed_inner_spaces_kept() -> None:
    parsed = parse_import("  user pass  \n\tCODE\t")
    assert parsed.keys == ["user pass", "CODE"]


def test_a_line_longer_than_the_limit_is_invalid() -> None:
    exact = "x" * MAX_KEY_LENGTH
    parsed = parse_import(f"{exact}\n{'y' * (MAX_KEY_LENGTH + 1)}\nOK")
    assert parsed.keys == [exact, "OK"]
    assert parsed.invalid == 1


def test_control_characters_make_a_line_invalid() -> None:
    lines = ["AB\x00CD", "AB\x07CD", "AB\x1bCD", "AB\tCD", "AB\x7fCD", "AB\x85CD", "AB\u2028CD", "GOOD"]
    parsed = parse_import("\n".join(lines))
    assert parsed.keys == ["GOOD"]
    assert parsed.invalid == 7


def test_unicode_keys_are_fine() -> None:
    parsed = parse_import("卡密-一二三\nclé-été")
    assert parsed.keys == ["卡密-一二三", "clé-été"]


def test_duplicates_within_the_upload_are_counted_once_kept_once() -> None:
    parsed = parse_import("AAA\nBBB\nAAA\r\n AAA \nBBB\nCCC")
    assert parsed.keys == ["AAA", "BBB", "CCC"]
    assert parsed.duplicates == 3


def test_invalid_lines_are_not_counted_as_duplicates() -> None:
    parsed = parse_import("A\x00\nA\x00\nA")
    assert parsed.keys == ["A"]
    assert (parsed.duplicates, parsed.invalid) == (0, 2)


def test_empty_upload() -> None:
    parsed = parse_import("")
    assert parsed.keys == []
    assert (parsed.duplicates, parsed.invalid) == (0, 0)
    assert parse_import("\ufeff\r\n").keys == []


def test_is_valid_key_rejects_empty() -> None:
    assert not is_valid_key("")
    assert is_valid_key("k")
