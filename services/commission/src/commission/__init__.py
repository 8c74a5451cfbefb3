"""Commission service: will keep the ledger of commissions earned on delivered orders."""
