"""What the gateway makes of an owner's answer it cannot read."""

import httpx
import pytest
from faka_common.errors import Unavailable
from faka_common.http import ANSWERED_BY
from gateway.adapters.owners import json_body


def test_an_owners_answer_that_is_not_json_is_a_503_naming_the_owner() -> None:
    answer = httpx.Response(
        200, content=b"<html>proxy error</html>", extensions={ANSWERED_BY: "http://order:8001"}
    )
    with pytest.raises(Unavailable) as refused:
        json_body(answer)
    assert refused.value.message == "http://order:8001 answered with a body that is not JSON"
    assert refused.value.status_code == 503
    anonymous = httpx.Response(200, content=b"oops")  # not from an InternalClient
    with pytest.raises(Unavailable, match="an internal service answered with a body that is not JSON"):
        json_body(anonymous)
