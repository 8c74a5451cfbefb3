from risk.domain.rules import OrderFacts, RuleSet


def test_ordinary_order_is_approved() -> None:
    decision = RuleSet(max_quantity_per_order=10).decide(OrderFacts(2, 2000, "a@example.com", "127.0.0.1"))
    assert decision.verdict == "approve"
    assert decision.reasons == []


def test_quantity_above_bound_is_rejected_with_reason() -> None:
    decision = RuleSet(max_quantity_per_order=10).decide(OrderFacts(11, 11000, "a@example.com", None))
    assert decision.verdict == "reject"
    assert "11" in decision.reasons[0]
