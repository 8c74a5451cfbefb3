"""A rule set of the risk service (a shop's or the platform's), as the admin API takes it: one model,
enforced by the risk service, checked and documented by the gateway on the way in. A malformed value is a
422 naming its field (`rules.<i>.<type>.<field>`), and a rule set is saved whole or not at all."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, IPvAnyNetwork, model_validator

from faka_common.fields import Line, Money

Action = Literal["reject", "review"]
#: An e-mail domain as written in a list: labels and dots (no scheme, no @); compared case-folded.
Domain = Annotated[
    str,
    Field(
        min_length=3,
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}$",
        examples=["mailinator.com"],
    ),
]
Email = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", examples=["buyer@example.com"])
]
#: A phone as written in a list or at checkout: digits, optionally a leading +, spaces and dashes; compared by
#: its digits (and the +) alone.
Phone = Annotated[
    str,
    Field(
        min_length=5, max_length=32, pattern=r"^\+?[0-9][0-9 -]{3,30}[0-9]$", examples=["+86 138 0013 8000"]
    ),
]
#: A device id as the checkout sends it: the storefront's per-browser random id (kept in localStorage) or an
#: API caller's own. It names a browser profile, not a device: clearing storage makes a new one, and a
#: script can send any id it likes, so it is one signal among others (a list entry, a window), never proof.
DeviceId = Annotated[
    str,
    Field(
        min_length=16,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="16-64 characters: letters, digits, - and _",
        examples=["dLq3x2m1Qk-7YvB0aZr9Tw"],
    ),
]
#: A payer's account at a payment provider, as `<provider>:<account>`: Alipay's buyer id, WeChat Pay's
#: openid, Stripe's customer, the sandbox's payer. Compared exactly (openids are case-sensitive).
PaymentAccount = Annotated[
    str,
    Field(
        min_length=3,
        max_length=160,
        pattern=r"^[a-z0-9_-]{1,32}:[\x21-\x7e]{1,127}$",  # as PAYMENT_ACCOUNT below
        examples=["alipay:2088102177846875", "wechatpay:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"],
    ),
]
MAX_LIST = 10_000
#: A window or a time: at least a second, at most 30 days.
Seconds = Annotated[int, Field(ge=1, le=30 * 24 * 3600)]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    note: Line | None = Field(default=None, max_length=200, description="Why the rule is there")


class ListRule(Rule):
    ips: list[IPvAnyAddress] = Field(default_factory=list, max_length=MAX_LIST)
    cidrs: list[IPvAnyNetwork] = Field(
        default_factory=list, max_length=MAX_LIST, examples=[["203.0.113.0/24"]]
    )
    emails: list[Email] = Field(default_factory=list, max_length=MAX_LIST)
    email_domains: list[Domain] = Field(default_factory=list, max_length=MAX_LIST)
    phones: list[Phone] = Field(default_factory=list, max_length=MAX_LIST)
    device_ids: list[DeviceId] = Field(default_factory=list, max_length=MAX_LIST)
    payment_accounts: list[PaymentAccount] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Payer accounts (known at payment): a paid order from one is held, not delivered",
    )


def phone_key(phone: str) -> str:
    """A phone as lists compare it: its digits, and its leading + if it has one."""
    digits = "".join(c for c in phone if c.isdigit())
    return ("+" if phone.strip().startswith("+") else "") + digits


class Blocklist(ListRule):
    """A buyer matching any entry is rejected (a blocklist wins over an allow-list)."""

    type: Literal["blocklist"] = "blocklist"


class Allowlist(ListRule):
    """A buyer matching any entry skips velocity, unpaid-order, amount and disposable-e-mail rules."""

    type: Literal["allowlist"] = "allowlist"

    @model_validator(mode="after")
    def _no_payers(self) -> Allowlist:
        if self.payment_accounts:
            raise ValueError(
                "payment_accounts: a payer is known only once the order is paid, where only a blocklist acts"
            )
        return self


class Velocity(Rule):
    """At most `limit` orders per `per` within the last `window_seconds` (a sliding window)."""

    type: Literal["velocity"] = "velocity"
    per: Literal["ip", "email", "product", "device"]
    limit: int = Field(ge=1, le=1_000_000)
    window_seconds: Seconds
    action: Action = "reject"


class UnpaidOrders(Rule):
    """At most `limit` orders per `per` placed and not yet paid, expired, cancelled or rejected (hoarding)."""

    type: Literal["unpaid_orders"] = "unpaid_orders"
    per: Literal["ip", "email"]
    limit: int = Field(ge=1, le=10_000)
    action: Action = "reject"


class AmountAboveMean(Rule):
    """An order whose amount is above `factor` × the mean of the product's last `sample` paid orders goes
    to review (once at least `min_samples` were paid)."""

    type: Literal["amount_above_mean"] = "amount_above_mean"
    factor: Decimal = Field(gt=1, le=1000, max_digits=8, decimal_places=3, examples=["3"])
    sample: int = Field(default=50, ge=1, le=1000)
    min_samples: int = Field(default=5, ge=1, le=1000)
    action: Action = "review"


class FirstPurchaseAbove(Rule):
    """A buyer (e-mail) who never paid in the shop before, ordering for more than `amount`."""

    type: Literal["first_purchase_above"] = "first_purchase_above"
    amount: Money
    action: Action = "review"


class DisposableEmail(Rule):
    """Buyers with an address at a disposable-mail domain (a built-in list, plus `extra_domains`)."""

    type: Literal["disposable_email"] = "disposable_email"
    extra_domains: list[Domain] = Field(default_factory=list, max_length=MAX_LIST)
    action: Action = "reject"


class QuantityBounds(Rule):
    type: Literal["quantity"] = "quantity"
    min: int = Field(default=1, ge=1, le=1_000_000)
    max: int = Field(ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _ordered(self) -> QuantityBounds:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be above max ({self.max})")
        return self


class Challenge(Rule):
    """Checkout asks for a proof of work (the buyer's browser or script finds a SHA-256 hash with
    `difficulty` leading zero bits) or, with `kind: captcha`, for the characters of an image the gateway
    draws (a person types them; a script must read them), once more than `limit` orders came from one `per`
    (client address or e-mail) within `window_seconds`: set it below a velocity rule's reject limit to slow a
    script down before refusing it. `per: always` asks it of every order (a shop under attack). Counted and
    asked by the gateway before the order is placed; when a captcha rule and a proof-of-work rule both ask,
    the captcha is asked (a solved captcha also stands for any work)."""

    type: Literal["challenge"] = "challenge"
    kind: Literal["proof_of_work", "captcha"] = Field(
        default="proof_of_work", description="What is asked: a proof of work, or an image's characters"
    )
    per: Literal["ip", "email", "always"]
    limit: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Orders let through unchallenged (not with always)"
    )
    window_seconds: Seconds = 3600
    difficulty: int = Field(
        default=16, ge=8, le=22, description="Leading zero bits of the hash: each bit doubles the work"
    )

    @model_validator(mode="after")
    def _limited(self) -> Challenge:
        if (self.per == "always") != (self.limit is None):
            raise ValueError("limit is required with per ip or email, and not allowed with per always")
        return self


AnyRule = Annotated[
    Blocklist
    | Allowlist
    | Velocity
    | UnpaidOrders
    | AmountAboveMean
    | FirstPurchaseAbove
    | DisposableEmail
    | QuantityBounds
    | Challenge,
    Field(discriminator="type"),
]
RULE_TYPES: tuple[str, ...] = (
    "blocklist",
    "allowlist",
    "velocity",
    "unpaid_orders",
    "amount_above_mean",
    "first_purchase_above",
    "disposable_email",
    "quantity",
    "challenge",
)


class RiskRules(BaseModel):
    """A whole rule set: saving it makes a new version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[AnyRule] = Field(default_factory=list, max_length=200)
    review_timeout_seconds: Seconds = Field(
        default=3600, description="How long an order waits in review before it is rejected as expired"
    )


def rules_key(namespace: str, scope: str) -> str:
    """The Redis hash where the risk service publishes a scope's (`platform` or a shop's id) current rule-set
    `version` (its replicas reload on a change) and its `challenges` (the gateway asks for them)."""
    return f"{namespace}risk:rules:{scope}"


def payers_key(namespace: str, scope: str) -> str:
    """The Redis set where the risk service publishes the payment accounts a scope's blocklists name; the
    order service holds a paid order whose payer is in its shop's set or the platform's."""
    return f"{namespace}risk:payers:{scope}"


def blocked_payers(rules: RiskRules) -> list[str]:
    """The payment accounts a rule set's blocklists name."""
    return sorted({a for r in rules.rules if isinstance(r, Blocklist) for a in r.payment_accounts})


PAYMENT_ACCOUNT = re.compile(r"^[a-z0-9_-]{1,32}:[\x21-\x7e]{1,127}$")


def payment_account(provider: str, account: object) -> str | None:
    """A payer's account as lists name it, `<provider>:<account>`, from what a provider's verified
    notification says; None when it names none (or something no list could hold)."""
    if not isinstance(account, str | int) or isinstance(account, bool):
        return None
    named = f"{provider}:{str(account).strip()}"
    return named if PAYMENT_ACCOUNT.fullmatch(named) else None


def challenges_document(rules: RiskRules) -> str:
    """A rule set's challenge rules as the gateway's script reads them (JSON; windows in milliseconds; a
    rule without `kind`, as published before captchas, asks for work)."""
    return json.dumps(
        [
            {
                "per": r.per,
                "limit": r.limit or 0,
                "window_ms": r.window_seconds * 1000,
                "bits": r.difficulty,
                "kind": r.kind,
            }
            for r in rules.rules
            if isinstance(r, Challenge)
        ]
    )


class RiskRulesChange(RiskRules):
    """What the gateway sends the risk service: the rule set and who changes it."""

    changed_by: Line = Field(min_length=1, max_length=254)


class ReviewApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewed_by: Line = Field(min_length=1, max_length=254)


class ReviewRejection(ReviewApproval):
    reason: Line = Field(min_length=1, max_length=500)
