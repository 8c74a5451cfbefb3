from inventory.domain.keys import MAX_LINE_BYTES, ImportFormat, InvalidLine, LineSplitter, read_key


def split(*chunks: bytes) -> list[tuple[int, bytes | None]]:
    splitter = LineSplitter()
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + list(splitter.close())


def test_lines_are_numbered_whatever_the_chunking() -> None:
    body = b"\xef\xbb\xbfA\r\nB\rC\n\nD"
    expected = [(1, b"A"), (2, b"B"), (3, b"C"), (4, b""), (5, b"D")]
    assert split(body) == expected
    assert split(*(body[i : i + 1] for i in range(len(body)))) == expected


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    assert split(b"A\r", b"\nB\r", b"\r\nC") == [(1, b"A"), (2, b"B"), (3, b""), (4, b"C")]


def test_a_bom_is_dropped_only_at_the_start() -> None:
    assert split(b"\xef", b"\xbb\xbfK\n\xef\xbb\xbfL") == [(1, b"K"), (2, b"\xef\xbb\xbfL")]
    assert split(b"\xef") == [(1, b"\xef")]


def test_an_overlong_line_is_flagged_without_being_kept() -> None:
    lines = split(b"x" * (MAX_LINE_BYTES // 2), b"x" * MAX_LINE_BYTES, b"y" * MAX_LINE_BYTES, b"\nOK\n")
    assert lines == [(1, None), (2, b"OK")]


def test_a_line_that_is_not_utf8_gets_a_reason() -> None:
    assert read_key(b"ab\xffcd", ImportFormat.TEXT, 7) == InvalidLine(
        7, "not UTF-8 (bad byte 0xff at column 3)"
    )
    assert read_key(b"  ok  ", ImportFormat.TEXT, 1) == "ok"
    assert read_key(b" \t ", ImportFormat.TEXT, 1) is None
    assert read_key(None, ImportFormat.TEXT, 3) == InvalidLine(3, "longer than 1000 characters")


def test_csv_rows_join_key_and_secret_and_skip_a_header() -> None:
    assert read_key(b"key,secret", ImportFormat.CSV, 1) is None
    assert read_key(b"key,secret", ImportFormat.CSV, 2) == "key secret"
    assert read_key(b'"A,1", S ', ImportFormat.CSV, 2) == "A,1 S"
    assert read_key(b"ONLY,", ImportFormat.CSV, 2) == "ONLY"
    assert read_key(b",S", ImportFormat.CSV, 2) == InvalidLine(2, "empty key column")
    assert read_key(b"a,b,c", ImportFormat.CSV, 2) == InvalidLine(2, "3 columns; expected key[,secret]")
