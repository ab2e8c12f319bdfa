"""The venues' signing policies as the vault runs them: each attack refused with the check it
fails, and, as properties, that whatever is accepted passes every check and that breaking any
checked field of an accepted payload gets it refused. The policies are pure functions of
(payload, credential, tenant scope, now), so these need no vault at all."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from arbiter.v1 import signing_pb2
from arbiter.vault.policy import (
    CredentialPublic,
    MalformedPayload,
    PolicyViolation,
    SigningRefused,
    TenantPolicy,
    VenueScope,
)
from arbiter.venues.kalshi.vault_policy import check_request
from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.config import PolymarketSettings
from arbiter.venues.polymarket.signing import (
    AMOY_CHAIN_ID,
    CTF_EXCHANGE_V2,
    CTF_EXCHANGE_V3,
    NEG_RISK_CTF_EXCHANGE_V2,
    POLYGON_CHAIN_ID,
    ExchangeDomain,
    Order,
    SignatureType,
    signing_digest,
)
from arbiter.venues.polymarket.vault_policy import (
    MAX_EXPIRATION_S,
    MAX_ORDER_AGE_MS,
    TIMESTAMP_SKEW_MS,
    check_clob_auth,
    check_order,
    decode_order,
    encode_order,
)

from .payloads import (
    CAP_MICROS,
    DOMAIN,
    HARDHAT_ADDRESS,
    OTHER_TOKEN,
    QTY_CAP_MICROS,
    order,
    scope,
)

NOW = 1_765_000_000_000
EOA = CredentialPublic("acme", "poly", "polymarket-eoa", HARDHAT_ADDRESS)
KALSHI = CredentialPublic("acme", "kalshi", "kalshi-rsa", "kid-1")
ACME = scope("acme")
STRANGER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # Hardhat account #1
FUNDER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # Hardhat account #2


def refusal(call: Any, *args: Any) -> SigningRefused:
    with pytest.raises(SigningRefused) as caught:
        call(*args)
    return caught.value


def check(signed: Order, domain: ExchangeDomain = DOMAIN, expiration_s: int = 0,
          tenant: TenantPolicy = ACME, now: int = NOW) -> bytes:
    return check_order(encode_order(signed, domain, expiration_s), EOA, tenant, now).message


# -- each attack, refused with its check's name -----------------------------------------------
@pytest.mark.parametrize(("changes", "domain", "name", "kind"), [
    ({"token_id": int(OTHER_TOKEN)}, DOMAIN, "token", PolicyViolation),
    ({"maker": STRANGER, "signer": STRANGER}, DOMAIN, "maker", PolicyViolation),
    ({"signer": STRANGER}, DOMAIN, "signer", PolicyViolation),
    ({}, ExchangeDomain(POLYGON_CHAIN_ID, STRANGER), "domain", PolicyViolation),
    ({}, ExchangeDomain(1, CTF_EXCHANGE_V2), "domain", PolicyViolation),
    ({}, ExchangeDomain(POLYGON_CHAIN_ID, CTF_EXCHANGE_V2, "3"), "domain", PolicyViolation),
    ({"maker_amount": CAP_MICROS + 1, "taker_amount": CAP_MICROS + 1}, DOMAIN,
     "notional-cap", PolicyViolation),
    ({"taker_amount": QTY_CAP_MICROS + 1}, DOMAIN, "size-cap", PolicyViolation),
    ({"maker_amount": 100_000_001}, DOMAIN, "price", PolicyViolation),
    ({"maker_amount": 0}, DOMAIN, "amounts", PolicyViolation),
    ({"signature_type": SignatureType.POLY_GNOSIS_SAFE}, DOMAIN, "signature-type",
     PolicyViolation),
    ({"timestamp_ms": NOW + TIMESTAMP_SKEW_MS + 1}, DOMAIN, "timestamp", PolicyViolation),
    ({"timestamp_ms": NOW - MAX_ORDER_AGE_MS - 1}, DOMAIN, "timestamp", PolicyViolation),
    ({"builder": b"\x01" * 32}, DOMAIN, "builder", PolicyViolation),
])
def test_an_order_outside_the_tenants_scope_is_refused_naming_the_check(
    changes: dict[str, Any], domain: ExchangeDomain, name: str, kind: type
) -> None:
    refused = refusal(check, order(NOW, **changes), domain)
    assert type(refused) is kind and refused.check == name, refused


@pytest.mark.parametrize(("field", "value", "name"), [
    ("side", 2, "side"), ("signature_type", 9, "signature-type"), ("maker", "0x12", "maker"),
    ("token_id", "-1", "token"), ("verifying_contract", "exchange", "verifying-contract"),
    ("metadata", b"\x00" * 31, "metadata"),
])
def test_fields_that_cannot_be_an_order_are_malformed(field: str, value: Any,
                                                      name: str) -> None:
    message = encode_order(order(NOW), DOMAIN)
    setattr(message, field, value)
    refused = refusal(check_order, message, EOA, ACME, NOW)
    assert isinstance(refused, MalformedPayload) and refused.check == name


def test_expiration_must_be_in_the_future_and_within_the_horizon() -> None:
    now_s = NOW // 1000
    assert check(order(NOW), expiration_s=now_s + 3600)
    for bad in (now_s, now_s + MAX_EXPIRATION_S + 1):
        assert refusal(check, order(NOW), DOMAIN, bad).check == "expiration"


def test_a_wallet_order_is_signed_only_for_the_tenants_own_funder() -> None:
    proxy = dataclasses.replace(ACME, venues={"polymarket": VenueScope(
        ACME.venue("polymarket").instruments,
        PolymarketSettings(venue="polymarket", signature_type="poly-proxy", funder=FUNDER))})
    signed = order(NOW, maker=FUNDER, signature_type=SignatureType.POLY_PROXY)
    assert check(signed, tenant=proxy) == signing_digest(signed, DOMAIN)
    stolen = dataclasses.replace(signed, maker=STRANGER)
    assert refusal(check, stolen, DOMAIN, 0, proxy).check == "maker"


def test_clob_auth_only_for_the_credentials_address_and_now() -> None:
    def auth(**fields: Any) -> signing_pb2.PolymarketClobAuth:
        return signing_pb2.PolymarketClobAuth(**{"address": HARDHAT_ADDRESS,
                                                 "timestamp_s": NOW // 1000, "nonce": 0,
                                                 "chain_id": POLYGON_CHAIN_ID, **fields})

    assert check_clob_auth(auth(), EOA, ACME, NOW).message
    for fields, name in (({"address": STRANGER}, "address"), ({"chain_id": 1}, "chain"),
                         ({"timestamp_s": NOW // 1000 - 61}, "timestamp"),
                         ({"timestamp_s": NOW // 1000 + 61}, "timestamp")):
        assert refusal(check_clob_auth, auth(**fields), EOA, ACME, NOW).check == name


@pytest.mark.parametrize(("method", "path", "at", "name"), [
    ("GET", "/trade-api/v1/portfolio/balance", NOW, "path"),
    ("GET", "/admin", NOW, "path"),
    ("POST", "/trade-api/v2/api_keys", NOW, "path"),
    ("GET", "/trade-api/v2/../v1/portfolio", NOW, "path"),
    ("GET", "/trade-api/v2/portfolio?x=1", NOW, "path"),
    ("PATCH", "/trade-api/v2/portfolio/orders", NOW, "method"),
    ("GET", "/trade-api/v2/portfolio/balance", NOW - 60_001, "timestamp"),
    ("GET", "/trade-api/v2/portfolio/balance", NOW + 60_001, "timestamp"),
])
def test_a_kalshi_request_outside_the_trade_api_or_not_now_is_refused(
    method: str, path: str, at: int, name: str
) -> None:
    request = signing_pb2.VenueRequest(timestamp_ms=at, method=method, path=path)
    assert refusal(check_request, request, KALSHI, ACME, NOW).check == name


def test_a_kalshi_request_the_gateway_makes_is_signed_as_the_venue_verifies() -> None:
    for method, path in (("POST", "/trade-api/v2/portfolio/orders"),
                         ("DELETE", "/trade-api/v2/portfolio/orders/batched"),
                         ("GET", "/trade-api/ws/v2")):
        request = signing_pb2.VenueRequest(timestamp_ms=NOW - 5, method=method, path=path)
        assert check_request(request, KALSHI, ACME, NOW).message == \
            f"{NOW - 5}{method}{path}".encode()


# -- properties --------------------------------------------------------------------------------
EXCHANGES = [ExchangeDomain(chain, contract, version)
             for chain in (POLYGON_CHAIN_ID, AMOY_CHAIN_ID)
             for contract, version in ((CTF_EXCHANGE_V2, "2"), (NEG_RISK_CTF_EXCHANGE_V2, "2"),
                                       (CTF_EXCHANGE_V3, "3"))]
def satisfies_every_check(message: signing_pb2.PolymarketOrder, now: int) -> bool:
    """The rules of docs/vault.md, restated from the message's own fields."""
    cash, shares = ((message.maker_amount, message.taker_amount) if message.side == 0
                    else (message.taker_amount, message.maker_amount))
    domain = (message.chain_id, message.verifying_contract.lower(), message.domain_version)
    return (
        domain in {(d.chain_id, d.verifying_contract.lower(), d.version) for d in EXCHANGES}
        and message.side in (Side.BUY, Side.SELL)
        and message.signature_type == SignatureType.EOA  # the test tenant has no funder
        and message.maker.lower() == message.signer.lower() == HARDHAT_ADDRESS.lower()
        and message.token_id in ACME.venue("polymarket").instruments
        and 0 < cash <= shares and cash <= CAP_MICROS and shares <= QTY_CAP_MICROS
        and now - MAX_ORDER_AGE_MS <= message.timestamp_ms <= now + TIMESTAMP_SKEW_MS
        and (message.expiration_s == 0
             or now // 1000 < message.expiration_s <= now // 1000 + MAX_EXPIRATION_S)
        and message.metadata.strip(b"\0") == message.builder.strip(b"\0") == b"")


@st.composite
def accepted_order(draw: st.DrawFn) -> tuple[signing_pb2.PolymarketOrder, int]:
    """An order the tenant may have signed: in scope in every field."""
    now = draw(st.integers(10**12, 2 * 10**12))
    shares = draw(st.integers(1, QTY_CAP_MICROS))
    cash = draw(st.integers(1, min(shares, CAP_MICROS)))
    side = draw(st.sampled_from(list(Side)))
    signed = order(
        draw(st.integers(now - MAX_ORDER_AGE_MS, now + TIMESTAMP_SKEW_MS)),
        salt=draw(st.integers(0, 2**53 - 1)), side=side,
        token_id=int(draw(st.sampled_from(sorted(ACME.venue("polymarket").instruments)))),
        maker_amount=cash if side == 0 else shares, taker_amount=shares if side == 0 else cash)
    expiration = draw(st.one_of(st.just(0), st.integers(now // 1000 + 1,
                                                        now // 1000 + MAX_EXPIRATION_S)))
    return encode_order(signed, draw(st.sampled_from(EXCHANGES)), expiration), now


MUTATIONS: dict[str, Any] = {
    "token": lambda m, now: setattr(m, "token_id", OTHER_TOKEN),
    "maker": lambda m, now: setattr(m, "maker", STRANGER),
    "signer": lambda m, now: setattr(m, "signer", STRANGER),
    "domain": lambda m, now: setattr(m, "verifying_contract", STRANGER),
    "chain": lambda m, now: setattr(m, "chain_id", 1),
    "version": lambda m, now: setattr(m, "domain_version",
                                      "3" if m.domain_version == "2" else "2"),
    "notional": lambda m, now: (setattr(m, "maker_amount", CAP_MICROS + 1),
                                setattr(m, "taker_amount", CAP_MICROS + 1),
                                setattr(m, "side", 0)),
    "size": lambda m, now: setattr(m, "taker_amount" if m.side == 0 else "maker_amount",
                                   QTY_CAP_MICROS + 1),
    "price": lambda m, now: setattr(m, "maker_amount" if m.side == 0 else "taker_amount",
                                    (m.taker_amount if m.side == 0 else m.maker_amount) + 1),
    "side": lambda m, now: setattr(m, "side", 2),
    "signature-type": lambda m, now: setattr(m, "signature_type", 1),
    "future": lambda m, now: setattr(m, "timestamp_ms", now + TIMESTAMP_SKEW_MS + 1),
    "stale": lambda m, now: setattr(m, "timestamp_ms", now - MAX_ORDER_AGE_MS - 1),
    "expiration": lambda m, now: setattr(m, "expiration_s", now // 1000 + MAX_EXPIRATION_S + 1),
    "builder": lambda m, now: setattr(m, "builder", b"\x01" * 32),
}


@settings(max_examples=300, deadline=None)
@given(accepted_order(), st.sampled_from(sorted(MUTATIONS)))
def test_breaking_any_checked_field_of_an_accepted_order_gets_it_refused(
    drawn: tuple[Any, int], mutation: str
) -> None:
    message, now = drawn
    check_order(message, EOA, ACME, now)  # accepted as drawn
    MUTATIONS[mutation](message, now)
    with pytest.raises(SigningRefused):
        check_order(message, EOA, ACME, now)


@st.composite
def any_order(draw: st.DrawFn) -> tuple[signing_pb2.PolymarketOrder, int]:
    """Anything a caller could send: an order in scope with none, one or several fields
    broken, or with a field set to any value at all."""
    message, now = draw(accepted_order())
    for mutation in draw(st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=3)):
        MUTATIONS[mutation](message, now)
    field = draw(st.sampled_from(["maker_amount", "taker_amount", "timestamp_ms",
                                  "expiration_s", "chain_id", None]))
    if field is not None:
        setattr(message, field, draw(st.integers(0, 2**64 - 1)))
    return message, now


@settings(max_examples=500, deadline=None)
@given(any_order())
def test_whatever_the_policy_accepts_passes_every_check(drawn: tuple[Any, int]) -> None:
    message, now = drawn
    try:
        approved = check_order(message, EOA, ACME, now)
    except SigningRefused as refused:
        event(f"refused: {refused.check}")
        assert not satisfies_every_check(message, now)
        return
    event("accepted")
    assert satisfies_every_check(message, now)
    assert approved.message == signing_digest(*decode_order(message))
