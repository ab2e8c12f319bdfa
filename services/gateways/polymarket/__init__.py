"""Polymarket CLOB V2: amounts, EIP-712 order signing, L1/L2 auth and order bodies."""
