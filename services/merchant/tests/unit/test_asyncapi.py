from merchant.entrypoints.app import asyncapi


def test_the_asyncapi_document_names_the_shop_and_account_events_on_the_merchant_stream() -> None:
    document = asyncapi.schema.to_specification().to_jsonable()
    assert set(document["channels"]) == {
        "merchant.events:ShopChanged",
        "merchant.events:AccountLinkRequested",
    }
