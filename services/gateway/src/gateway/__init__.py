"""Gateway service: the only public HTTP edge (storefront API, admin API, payment webhooks, sandbox checkout).

It owns no business state; it calls the owners' internal APIs and passes their 4xx answers on."""
