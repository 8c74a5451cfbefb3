"""The rules that need no count or mean, judged in the domain alone."""

from uuid import uuid4

import pytest
from faka_common.contracts.risk_rules import RiskRules
from pydantic import ValidationError
from risk.domain.rules import OrderFacts, RuleSet, evaluate, verdict_of


def facts(
    quantity: int = 2,
    email: str = "a@example.com",
    ip: str | None = "127.0.0.1",
    phone: str | None = None,
    device: str | None = None,
) -> OrderFacts:
    return OrderFacts(uuid4(), uuid4(), uuid4(), quantity, 2000, email, ip, phone, device)


def shop(*rules: dict[str, object]) -> RuleSet:
    return RuleSet("shop", 3, RiskRules.model_validate({"rules": list(rules)}))


def test_ordinary_order_is_approved_and_counted_as_unpaid_per_email_and_address_in_shop_and_platform() -> (
    None
):
    found = evaluate(facts(), [RuleSet("platform"), RuleSet("shop")], 10, 3600)
    assert verdict_of(found.fired) == "approve" and found.fired == []
    assert len(found.counters) == 4 and all(c.limit == 0 for c in found.counters)


def test_quantity_above_the_service_bound_is_rejected_with_reason() -> None:
    found = evaluate(facts(quantity=11), [RuleSet("shop")], 10, 3600)
    assert verdict_of(found.fired) == "reject" and "11" in found.fired[0].reason
    assert found.counters == []


def test_a_blocked_cidr_rejects_naming_the_rule_even_when_the_address_is_allow_listed() -> None:
    rules = shop(
        {"type": "allowlist", "ips": ["203.0.113.9"]},
        {"type": "blocklist", "cidrs": ["203.0.113.0/24"]},
    )
    found = evaluate(facts(ip="203.0.113.9"), [rules], 100, 3600)
    assert [f.rule for f in found.fired] == ["shop.blocklist[1]"]
    assert verdict_of(found.fired) == "reject"


def test_an_allow_listed_domain_skips_the_velocity_and_disposable_rules() -> None:
    rules = shop(
        {"type": "allowlist", "email_domains": ["mailinator.com"]},
        {"type": "disposable_email"},
        {"type": "velocity", "per": "ip", "limit": 1, "window_seconds": 60},
    )
    found = evaluate(facts(email="a@mailinator.com"), [rules], 100, 3600)
    assert found.fired == [] and all(c.fired is None for c in found.counters)


def test_a_disposable_domain_of_the_built_in_list_or_the_shops_own_fires_its_action() -> None:
    rules = shop({"type": "disposable_email", "extra_domains": ["Burner.Example"], "action": "review"})
    assert verdict_of(evaluate(facts(email="a@yopmail.com"), [rules], 100, 3600).fired) == "review"
    assert verdict_of(evaluate(facts(email="a@mx.burner.example"), [rules], 100, 3600).fired) == "review"
    assert verdict_of(evaluate(facts(email="a@example.com"), [rules], 100, 3600).fired) == "approve"


def test_quantity_bounds_of_a_shop_reject_outside_them() -> None:
    rules = shop({"type": "quantity", "min": 2, "max": 5})
    assert [f.rule for f in evaluate(facts(quantity=6), [rules], 100, 3600).fired] == ["shop.quantity[0]"]
    assert evaluate(facts(quantity=5), [rules], 100, 3600).fired == []


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"type": "blocklist", "cidrs": ["10.0.0.300/8"]}, "rules.0.blocklist.cidrs.0"),
        (
            {"type": "velocity", "per": "ip", "limit": 5, "window_seconds": -60},
            "rules.0.velocity.window_seconds",
        ),
        ({"type": "captcha"}, "rules.0"),
        ({"type": "quantity", "min": 5, "max": 2}, "rules.0.quantity"),
    ],
)
def test_a_malformed_rule_is_refused_naming_its_field(rule: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RiskRules.model_validate({"rules": [rule]})
    [error] = refused.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == field


def test_a_long_blocklist_finds_an_address_in_any_of_its_networks_and_a_subdomain_of_a_listed_domain() -> (
    None
):
    networks = [f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)] + ["172.16.0.0/12", "2001:db8::/32"]
    rules = shop({"type": "blocklist", "cidrs": networks, "email_domains": ["Spam.Example"]})
    listed = [
        evaluate(facts(ip=ip), [rules], 100, 3600).rejected
        for ip in ("10.3.231.9", "172.31.0.1", "2001:db8::7")
    ]
    unlisted = [
        evaluate(facts(ip=ip), [rules], 100, 3600).rejected
        for ip in ("10.4.0.1", "172.32.0.1", "2001:db9::7")
    ]
    assert listed == [True, True, True] and unlisted == [False, False, False]
    reasons = [
        evaluate(facts(ip=ip), [rules], 100, 3600).fired[0].reason for ip in ("172.31.0.1", "2001:db8::7")
    ]
    assert ["172.16.0.0/12" in reasons[0], "2001:db8::/32" in reasons[1]] == [
        True,
        True,
    ]  # the listed network
    assert evaluate(facts(email="a@mx.spam.example", ip=None), [rules], 100, 3600).rejected
    assert not evaluate(facts(email="a@notspam.example", ip=None), [rules], 100, 3600).rejected


def test_a_blocked_phone_rejects_however_it_is_written_and_an_allow_listed_one_skips_velocity() -> None:
    rules = shop(
        {"type": "blocklist", "phones": ["+86 138 0013 8000"]},
        {"type": "allowlist", "phones": ["139-0000-1111"]},
        {"type": "velocity", "per": "ip", "limit": 1, "window_seconds": 60},
    )
    blocked = evaluate(facts(phone="+8613800138000"), [rules], 100, 3600)
    assert [f.rule for f in blocked.fired] == ["shop.blocklist[0]"] and "+8613800138000" in blocked.fired[
        0
    ].reason
    allowed = evaluate(facts(phone="139 0000 1111"), [rules], 100, 3600)
    assert allowed.fired == [] and all(c.fired is None for c in allowed.counters)
    assert evaluate(facts(phone="8613800138000"), [rules], 100, 3600).fired == []  # no +: another number
    assert evaluate(facts(phone=None), [rules], 100, 3600).fired == []


def test_a_malformed_phone_in_a_list_is_refused_naming_its_line() -> None:
    with pytest.raises(ValidationError, match=r"rules\.0\.blocklist\.phones\.1"):
        RiskRules.model_validate(
            {"rules": [{"type": "blocklist", "phones": ["+86 138 0013 8000", "call me"]}]}
        )


DEVICE = "dLq3x2m1Qk-7YvB0aZr9Tw"


def test_a_blocked_device_rejects_naming_it_and_an_allow_listed_one_skips_velocity() -> None:
    rules = shop(
        {"type": "blocklist", "device_ids": [DEVICE]},
        {"type": "allowlist", "device_ids": ["0123456789abcdef0123456789abcdef"]},
        {"type": "velocity", "per": "device", "limit": 1, "window_seconds": 60},
    )
    blocked = evaluate(facts(device=DEVICE), [rules], 100, 3600)
    assert [f.rule for f in blocked.fired] == ["shop.blocklist[0]"]
    assert f"device {DEVICE} is blocked" in blocked.fired[0].reason
    allowed = evaluate(facts(device="0123456789abcdef0123456789abcdef"), [rules], 100, 3600)
    assert allowed.fired == [] and all(c.fired is None for c in allowed.counters)
    assert evaluate(facts(device=DEVICE.lower()), [rules], 100, 3600).fired == []  # ids are exact


def test_a_device_velocity_rule_counts_per_device_and_ignores_an_order_without_one() -> None:
    rules = shop({"type": "velocity", "per": "device", "limit": 5, "window_seconds": 60})
    [counted] = [c for c in evaluate(facts(device=DEVICE), [rules], 100, 3600).counters if c.fired]
    assert counted.key.endswith(f":device:60:{DEVICE}") and counted.limit == 5
    assert not [c for c in evaluate(facts(device=None), [rules], 100, 3600).counters if c.fired]


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"type": "blocklist", "device_ids": ["short"]}, "rules.0.blocklist.device_ids.0"),
        ({"type": "blocklist", "device_ids": ["has space in it 0123"]}, "rules.0.blocklist.device_ids.0"),
        ({"type": "blocklist", "payment_accounts": ["no-provider"]}, "rules.0.blocklist.payment_accounts.0"),
        ({"type": "allowlist", "payment_accounts": ["alipay:2088102177846875"]}, "rules.0.allowlist"),
    ],
)
def test_a_malformed_device_or_payment_account_entry_is_refused_naming_its_line(
    rule: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        RiskRules.model_validate({"rules": [rule]})
    [error] = refused.value.errors()
    assert ".".join(str(part) for part in error["loc"]) == field
