from merchant.entrypoints.app import asyncapi


def test_the_asyncapi_document_names_the_shop_event_on_the_merchant_stream() -> None:
    document = asyncapi.schema.to_specification().to_jsonable()
    assert "merchant.events:ShopChanged" in document["channels"]
    assert not [name for name in document["channels"] if "ShopChanged" not in name]
