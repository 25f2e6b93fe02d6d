"""Money: prices, costs, reservations, settlement and the ledger. Knows nothing of HTTP."""
