"""Payments: cards, wallets and PayPal through a gateway; refunds; signed webhooks."""
