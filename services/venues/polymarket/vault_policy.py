"""What the vault checks before a Polymarket key signs: an order or an L1 auth message.

A gateway sends the vault an order's fields (`PolymarketOrder`) or a ClobAuth message's
(`PolymarketClobAuth`), never a digest: a digest could be a token permit or a transfer. The
policies here decode the fields, check them against the credential (its address) and the
tenant's scope (its approved tokens, its funder, its per-order caps), and compute the digest
with this package's own hashing (`signing.signing_digest`, `auth.clob_auth_digest`). Each
check is pure: (payload, credential, tenant scope, now) in, the bytes to sign or a refusal
naming the check out.
"""

from __future__ import annotations

from collections.abc import Mapping

from eth_utils import is_hex_address

from arbiter.v1 import signing_pb2
from arbiter.vault.policy import (
    Approved,
    CredentialPublic,
    MalformedPayload,
    PolicyViolation,
    TenantPolicy,
)
from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.auth import clob_auth_digest
from arbiter.venues.polymarket.config import PolymarketSettings
from arbiter.venues.polymarket.constants import VENUE
from arbiter.venues.polymarket.order_builder import OrderBuildError, order_parties
from arbiter.venues.polymarket.signing import (
    AMOY_CHAIN_ID,
    CTF_EXCHANGE_V2,
    CTF_EXCHANGE_V3,
    EXCHANGE_DOMAIN_VERSION,
    NEG_RISK_CTF_EXCHANGE_V2,
    POLYGON_CHAIN_ID,
    ZERO_BYTES32,
    ExchangeDomain,
    Order,
    SignatureType,
    signing_digest,
)

CHAINS = frozenset({POLYGON_CHAIN_ID, AMOY_CHAIN_ID})
"""The chains the venue's exchanges live on (the same addresses on both)."""
EXCHANGES = frozenset({(CTF_EXCHANGE_V2.lower(), EXCHANGE_DOMAIN_VERSION),
                       (NEG_RISK_CTF_EXCHANGE_V2.lower(), EXCHANGE_DOMAIN_VERSION),
                       (CTF_EXCHANGE_V3.lower(), "3")})
"""(verifying contract, domain version) of every exchange an order may be signed for: the
standard and neg-risk V2 exchanges, and the one a gateway follows after GET /version."""
TIMESTAMP_SKEW_MS = 60_000
"""How far ahead of the vault's clock a signed timestamp may be (and, for ClobAuth, behind)."""
MAX_ORDER_AGE_MS = 24 * 3600 * 1000
"""An order's signed timestamp is its intent's creation time, re-signed on a resend; older
than this it is no intent of today's."""
MAX_EXPIRATION_S = 90 * 24 * 3600
"""The furthest a GTD order may live (the venue sets no bound; this is a sanity one)."""


def _address(value: str, field: str) -> str:
    """`value` if it is a 20-byte hex address (compared case-insensitively; hashing takes
    the bytes, so the checksum's case is not needed and costs a keccak each)."""
    if not is_hex_address(value):
        raise MalformedPayload(field, f"{field} {value!r} is not a 20-byte hex address")
    return value


def _bytes32(value: bytes, field: str) -> bytes:
    if not value:
        return ZERO_BYTES32
    if len(value) != 32:
        raise MalformedPayload(field, f"{field} must be 32 bytes, was {len(value)}")
    return value


def decode_order(message: signing_pb2.PolymarketOrder) -> tuple[Order, ExchangeDomain]:
    """The order and its exchange domain, as the fields say; `MalformedPayload` for fields
    that cannot be an order at all."""
    try:
        side = Side(message.side)
    except ValueError:
        raise MalformedPayload("side", f"side {message.side} is neither BUY (0) nor "
                               "SELL (1)") from None
    try:
        signature_type = SignatureType(message.signature_type)
    except ValueError:
        raise MalformedPayload("signature-type", f"signature type {message.signature_type} "
                               f"is not one of {[t.value for t in SignatureType]}") from None
    if not message.token_id.isdigit() or int(message.token_id) >= 2**256:
        raise MalformedPayload("token", f"token id {message.token_id!r} is not a uint256 in "
                               "decimal")
    order = Order(
        salt=message.salt, maker=_address(message.maker, "maker"),
        signer=_address(message.signer, "signer"), token_id=int(message.token_id),
        maker_amount=message.maker_amount, taker_amount=message.taker_amount, side=side,
        signature_type=signature_type, timestamp_ms=message.timestamp_ms,
        metadata=_bytes32(message.metadata, "metadata"),
        builder=_bytes32(message.builder, "builder"))
    domain = ExchangeDomain(message.chain_id,
                            _address(message.verifying_contract, "verifying-contract"),
                            message.domain_version)
    return order, domain


def encode_order(order: Order, domain: ExchangeDomain,
                 expiration_s: int = 0) -> signing_pb2.PolymarketOrder:
    """The `SignRequest` payload of an order (the inverse of `decode_order`)."""
    return signing_pb2.PolymarketOrder(
        salt=order.salt, maker=order.maker, signer=order.signer, token_id=str(order.token_id),
        maker_amount=order.maker_amount, taker_amount=order.taker_amount,
        side=int(order.side), signature_type=int(order.signature_type),
        timestamp_ms=order.timestamp_ms, metadata=order.metadata, builder=order.builder,
        expiration_s=expiration_s, chain_id=domain.chain_id,
        verifying_contract=domain.verifying_contract, domain_version=domain.version)


def _funder(tenant: TenantPolicy) -> str | None:
    settings = tenant.venue(VENUE).settings
    return (settings.funder or None) if isinstance(settings, PolymarketSettings) else None


def check_order(message: signing_pb2.PolymarketOrder, credential: CredentialPublic,
                tenant: TenantPolicy, now_ms: int) -> Approved:
    """Every rule an order must pass before the tenant's key signs it; the digest to sign."""
    order, domain = decode_order(message)
    if domain.chain_id not in CHAINS:
        raise PolicyViolation("domain", f"chain {domain.chain_id} is not one the venue's "
                              f"exchanges are on ({sorted(CHAINS)})")
    if (domain.verifying_contract.lower(), domain.version) not in EXCHANGES:
        raise PolicyViolation("domain", f"{domain.verifying_contract} (version "
                              f"{domain.version!r}) is not a Polymarket exchange")
    try:
        maker, signer = order_parties(credential.public_id, order.signature_type,
                                      _funder(tenant))
    except OrderBuildError as exc:
        raise PolicyViolation("signature-type", f"{exc} (the tenant's venues.polymarket "
                              "section)") from None
    if order.maker.lower() != maker.lower():
        raise PolicyViolation("maker", f"maker {order.maker} is not the tenant's {maker}")
    if order.signer.lower() != signer.lower():
        raise PolicyViolation("signer", f"signer {order.signer} is not the tenant's {signer}")
    if str(order.token_id) not in tenant.venue(VENUE).instruments:
        raise PolicyViolation("token", f"token {order.token_id} is not in tenant "
                              f"{tenant.tenant_id!r}'s approved markets")
    _check_amounts(order, tenant)
    if order.timestamp_ms > now_ms + TIMESTAMP_SKEW_MS:
        raise PolicyViolation("timestamp", f"timestamp {order.timestamp_ms} ms is ahead of "
                              f"the vault's clock ({now_ms}) by more than {TIMESTAMP_SKEW_MS}")
    if order.timestamp_ms < now_ms - MAX_ORDER_AGE_MS:
        raise PolicyViolation("timestamp", f"timestamp {order.timestamp_ms} ms is older than "
                              f"{MAX_ORDER_AGE_MS // 3_600_000} h")
    now_s = now_ms // 1000
    if message.expiration_s and not now_s < message.expiration_s <= now_s + MAX_EXPIRATION_S:
        raise PolicyViolation("expiration", f"expiration {message.expiration_s} s is not "
                              f"within {MAX_EXPIRATION_S // 86400} days after now ({now_s})")
    if order.metadata != ZERO_BYTES32 or order.builder != ZERO_BYTES32:
        raise PolicyViolation("builder", "metadata and builder must be zero: Arbiter "
                              "attributes no order to a builder")
    return Approved(signing_digest(order, domain), describe_order(message))


def _check_amounts(order: Order, tenant: TenantPolicy) -> None:
    """What the order pays and gets: both positive, at most $1 a share, within the caps."""
    if order.maker_amount <= 0 or order.taker_amount <= 0:
        raise PolicyViolation("amounts", "maker and taker amounts must both be positive")
    cash, shares = ((order.maker_amount, order.taker_amount) if order.side is Side.BUY
                    else (order.taker_amount, order.maker_amount))
    if cash > shares:
        raise PolicyViolation("price", f"{cash} micro-dollars for {shares} micro-shares is "
                              "above $1 a share")
    if cash > tenant.max_order_notional_micros:
        raise PolicyViolation("notional-cap", f"notional {cash} micro-dollars exceeds the "
                              f"per-order cap of {tenant.max_order_notional_micros}")
    if shares > tenant.max_order_qty_micros:
        raise PolicyViolation("size-cap", f"{shares} micro-shares exceeds the per-order cap "
                              f"of {tenant.max_order_qty_micros}")


def describe_order(message: signing_pb2.PolymarketOrder) -> Mapping[str, str]:
    side = {int(s): s.name for s in Side}.get(message.side, str(message.side))
    return {"venue": VENUE, "token": message.token_id, "side": side,
            "maker_amount": str(message.maker_amount),
            "taker_amount": str(message.taker_amount), "maker": message.maker,
            "exchange": message.verifying_contract, "chain": str(message.chain_id)}


def check_clob_auth(message: signing_pb2.PolymarketClobAuth, credential: CredentialPublic,
                    tenant: TenantPolicy, now_ms: int) -> Approved:
    """L1 auth only for the credential's own address, on a venue chain, timestamped now."""
    address = _address(message.address, "address")
    if address.lower() != credential.public_id.lower():
        raise PolicyViolation("address", f"ClobAuth for {address} is not for the "
                              f"credential's own address {credential.public_id}")
    if message.chain_id not in CHAINS:
        raise PolicyViolation("chain", f"chain {message.chain_id} is not one the venue is on "
                              f"({sorted(CHAINS)})")
    if abs(message.timestamp_s * 1000 - now_ms) > TIMESTAMP_SKEW_MS:
        raise PolicyViolation("timestamp", f"timestamp {message.timestamp_s} s is more than "
                              f"{TIMESTAMP_SKEW_MS // 1000} s from the vault's clock "
                              f"({now_ms // 1000} s)")
    return Approved(clob_auth_digest(address, message.timestamp_s, message.nonce,
                                     message.chain_id), describe_clob_auth(message))


def describe_clob_auth(message: signing_pb2.PolymarketClobAuth) -> Mapping[str, str]:
    return {"venue": VENUE, "address": message.address, "timestamp": str(message.timestamp_s),
            "nonce": str(message.nonce), "chain": str(message.chain_id)}
