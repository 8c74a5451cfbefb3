"""A payment provider's credentials, one model per provider: the order service checks the platform's own
(its settings, `<PREFIX>_<FIELD>`) and a shop's payment channel with the same model, and the gateway's admin
API takes a shop's with it, so both answer the same body the same way.

Which fields are secrets (sealed at rest, never shown) is part of each model: `SECRETS`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from faka_common.fields import Line, NonBlankLine, Text

ProviderName = Literal["sandbox", "epay", "alipay", "wechatpay", "stripe", "usdt"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("sandbox", "epay", "alipay", "wechatpay", "stripe", "usdt")


def provider_name(name: str) -> ProviderName:
    """`name` (a setting's, a stored channel's) as a provider's name; ValueError for one not known."""
    if name not in PROVIDER_NAMES:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(PROVIDER_NAMES)}")
    return cast(ProviderName, name)


#: A value the provider hands out on one line (an id, a key, a token).
Value = Annotated[NonBlankLine, StringConstraints(max_length=512)]
Optional = Annotated[Line, StringConstraints(max_length=512)]
#: An RSA key or certificate: PEM (several lines) or bare base64.
Pem = Annotated[Text, StringConstraints(min_length=1, max_length=8192)]
OptionalPem = Annotated[Text, StringConstraints(max_length=8192)]
Url = Annotated[
    str,
    StringConstraints(
        min_length=8,
        max_length=512,
        pattern=r"^https?://[^\s/?#\x00-\x1f\x7f-\x9f]+[^\s\x00-\x1f\x7f-\x9f]*$",
    ),
    Field(examples=["https://pay.example.com"]),
]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The fields never shown again once stored (sealed at rest).
    SECRETS: ClassVar[tuple[str, ...]] = ()

    def shown(self) -> dict[str, Any]:
        """What may be shown of them: every other field, and `<secret>_set` for each secret."""
        values = self.model_dump()
        return {
            **{name: value for name, value in values.items() if name not in self.SECRETS},
            **{f"{name}_set": bool(values[name]) for name in self.SECRETS},
        }


class SandboxCredentials(Credentials):
    SECRETS = ("secret",)

    secret: Value


class EpayCredentials(Credentials):
    """易支付: the gateway's address, the merchant id and key, and the payment type it offers."""

    SECRETS = ("key",)

    url: Url
    pid: Value
    key: Value
    type: Annotated[Value, Field(examples=["alipay", "wxpay", "qqpay"])] = "alipay"


class AlipayCredentials(Credentials):
    SECRETS = ("private_key",)

    app_id: Value
    private_key: Pem
    public_key: Pem
    seller_id: Optional = ""


class WechatPayCredentials(Credentials):
    SECRETS = ("private_key", "apiv3_key")

    appid: Value
    mchid: Value
    merchant_serial: Value
    private_key: Pem
    apiv3_key: Value
    #: Optional pinned platform key; the rotating platform certificates are fetched either way.
    platform_serial: Optional = ""
    platform_public_key: OptionalPem = ""

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if bool(self.platform_serial) != bool(self.platform_public_key):
            raise ValueError(
                "set both platform_serial and platform_public_key, or neither (the platform certificates "
                "are then fetched from /v3/certificates)"
            )
        return self


class StripeCredentials(Credentials):
    SECRETS = ("secret_key", "webhook_secret")

    secret_key: Value
    webhook_secret: Value


class EpusdtCredentials(Credentials):
    SECRETS = ("token",)

    url: Url
    token: Value
    wallet: Optional = ""


CREDENTIALS: dict[ProviderName, type[Credentials]] = {
    "sandbox": SandboxCredentials,
    "epay": EpayCredentials,
    "alipay": AlipayCredentials,
    "wechatpay": WechatPayCredentials,
    "stripe": StripeCredentials,
    "usdt": EpusdtCredentials,
}


C = TypeVar("C", bound=Credentials)


class ChannelBody(BaseModel, Generic[C]):
    """A shop's payment channel of one provider: its credentials (all of them, each time) and whether the
    shop's buyers are offered it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    credentials: C


def channel_body(provider: ProviderName) -> type[ChannelBody[Any]]:
    """The PUT body of `provider`'s channel."""
    return cast("type[ChannelBody[Any]]", ChannelBody.__class_getitem__(CREDENTIALS[provider]))
