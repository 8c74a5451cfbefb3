from faka_common.sandbox_payment import signature_valid, signed_notification


def test_signed_notification_verifies_with_the_same_secret_only() -> None:
    note = signed_notification("F1", "T1", 4800, "CNY", "s3cret")
    assert signature_valid(note, "s3cret")
    assert not signature_valid(note, "other")


def test_any_tampered_field_breaks_the_signature() -> None:
    note = signed_notification("F1", "T1", 4800, "CNY", "s3cret")
    for field, value in [
        ("amount", 1),
        ("order_no", "F2"),
        ("trade_no", "T2"),
        ("currency", "USD"),
        ("status", "SUCCESS_NOT"),
        ("timestamp", note["timestamp"] + 1),
    ]:
        assert not signature_valid({**note, field: value}, "s3cret"), field


def test_missing_fields_are_invalid_not_errors() -> None:
    note = signed_notification("F1", "T1", 4800, "CNY", "s3cret")
    del note["signature"]
    assert not signature_valid(note, "s3cret")
    assert not signature_valid({}, "s3cret")
