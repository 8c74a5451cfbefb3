"""Aliyun SMS (dysmsapi `SendSms`) with the RPC signature, version 1.0, as Alibaba Cloud publishes it:
HMAC-SHA1, keyed with `AccessKeySecret + "&"`, over `GET&%2F&` + the percent-encoded canonicalized query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from faka_common.http import json_object
from uuid6 import uuid7

from notification.adapters.channels.http import call, raise_for_status
from notification.domain.channels import (
    ChannelResult,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from notification.domain.model import ALIYUN_SMS

API_VERSION = "2017-05-25"
# Codes that may pass later (flow control, the provider's own faults); every other non-OK code is final.
TRANSIENT_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "Throttling",
        "ServiceUnavailable",
    }
)


def percent_encode(value: str) -> str:
    """RFC 3986 over UTF-8: unreserved characters kept, space as %20, `*` as %2A, `~` as itself."""
    return quote(value, safe="-_.~")


def canonicalized_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )


def string_to_sign(params: Mapping[str, str], method: str = "GET") -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonicalized_query(params))}"


def sign(params: Mapping[str, str], access_key_secret: str, method: str = "GET") -> str:
    digest = hmac.new(
        f"{access_key_secret}&".encode(), string_to_sign(params, method).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsChannel:
    name = ALIYUN_SMS
    carries_secrets = True
    idempotent = False

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: Mapping[str, str],
        region: str = "cn-hangzhou",
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/") + "/"
        self._access_key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name
        self._templates = dict(templates)
        self._region = region

    def accepts(self, template: str) -> bool:
        """Aliyun only sends pre-approved templates: a notice without a TemplateCode is not sent here."""
        return template in self._templates

    def request_params(self, message: OutgoingMessage, nonce: str, timestamp: datetime) -> dict[str, str]:
        params = {
            "AccessKeyId": self._access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.idempotency_key[:64],
            "PhoneNumbers": message.recipient,
            "RegionId": self._region,
            "SignName": self._sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce,
            "SignatureVersion": "1.0",
            "TemplateCode": self._templates[message.template],
            "TemplateParam": json.dumps(dict(message.params), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }
        return {"Signature": sign(params, self._secret), **params}

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        if message.template not in self._templates:
            raise PermanentChannelError(f"no Aliyun SMS template for {message.template}")
        params = self.request_params(message, str(uuid7()), datetime.now(UTC))
        response = await call(self._client, "Aliyun SMS", "GET", self._base_url, params=params)
        body = json_object(response)
        code = str(body.get("Code", ""))
        if response.status_code >= 500 or code in TRANSIENT_CODES:
            raise TransientChannelError(f"Aliyun SMS answered HTTP {response.status_code} {code}".rstrip())
        if code != "OK":
            raise_for_status("Aliyun SMS", response, code)
            raise PermanentChannelError(f"Aliyun SMS refused the message: {code or 'no code'}")
        return ChannelResult(self.name, str(body.get("BizId") or "") or None)
