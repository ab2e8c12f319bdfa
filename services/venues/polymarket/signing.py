"""EIP-712 hashing and signing of Polymarket CLOB V2 orders (exchange domain version "2").

Hashing is separate from key possession: :func:`signing_digest` yields the 32 bytes the key
signs for an order. A :class:`Signer` is asked to sign the *order*, never a digest: in
production it hands the order's fields to the vault service, which checks them and computes
this same digest itself (``arbiter.venues.polymarket.vault_policy``).
:func:`encode_signature` turns the 65-byte ECDSA signature into the wire signature, and
:func:`recover_order_signer` lets the emulator check a signature the way the exchange does.

Signature types EOA, POLY_PROXY and POLY_GNOSIS_SAFE sign the order digest directly.
POLY_1271 (EIP-1271 deposit wallets) signs a Solady ``TypedDataSign`` envelope whose inner
domain is the wallet ("DepositWallet", version "1", salt 0) and appends the app domain
separator, the order struct hash, the Order type string and its uint16 length.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.auth import clob_auth_digest

EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
EXCHANGE_DOMAIN_VERSION = "2"

POLYGON_CHAIN_ID = 137
AMOY_CHAIN_ID = 80002
CTF_EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_CTF_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
CTF_EXCHANGE_V3 = "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
"""Signed with domain version "3" (facts A2; its purpose there is unverified)."""
EXCHANGES_BY_VERSION = {"2": CTF_EXCHANGE_V2, "3": CTF_EXCHANGE_V3}
"""Standard-market exchange per protocol version, for re-signing after GET /version."""
"""V2 exchanges: the same addresses on Polygon (137) and Amoy (80002)."""

ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
    "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,"
    "bytes32 builder)"
)
DOMAIN_TYPE_STRING = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
TYPED_DATA_SIGN_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
ORDER_TYPEHASH = keccak(text=ORDER_TYPE_STRING)
DOMAIN_TYPEHASH = keccak(text=DOMAIN_TYPE_STRING)
TYPED_DATA_SIGN_TYPEHASH = keccak(text=TYPED_DATA_SIGN_TYPE_STRING)

DEPOSIT_WALLET_DOMAIN_NAME = "DepositWallet"
DEPOSIT_WALLET_DOMAIN_VERSION = "1"
ZERO_BYTES32 = bytes(32)
ECDSA_SIGNATURE_LENGTH = 65


class SignatureType(IntEnum):
    """How the exchange validates the order signature (``SignatureTypeV2``)."""

    EOA = 0
    POLY_PROXY = 1
    POLY_GNOSIS_SAFE = 2
    POLY_1271 = 3


class SignatureError(ValueError):
    """A signature that does not fit the order it claims to sign."""


@dataclass(frozen=True)
class ExchangeDomain:
    """The EIP-712 domain of the exchange an order is routed to."""

    chain_id: int
    verifying_contract: str
    version: str = EXCHANGE_DOMAIN_VERSION

    @classmethod
    def for_market(cls, chain_id: int = POLYGON_CHAIN_ID, *, neg_risk: bool) -> ExchangeDomain:
        """Standard or neg-risk V2 exchange, as the market's ``neg_risk`` flag says."""
        return cls(chain_id, NEG_RISK_CTF_EXCHANGE_V2 if neg_risk else CTF_EXCHANGE_V2)

    def separator(self) -> bytes:
        """The 32-byte EIP-712 domain separator."""
        return keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    DOMAIN_TYPEHASH,
                    keccak(text=EXCHANGE_DOMAIN_NAME),
                    keccak(text=self.version),
                    self.chain_id,
                    self.verifying_contract,
                ],
            )
        )


@dataclass(frozen=True)
class Order:
    """The 11 signed fields of a V2 order (``expiration`` travels in JSON only, unsigned)."""

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: SignatureType
    timestamp_ms: int
    metadata: bytes = ZERO_BYTES32
    builder: bytes = ZERO_BYTES32

    def __post_init__(self) -> None:
        for name in ("metadata", "builder"):
            if len(getattr(self, name)) != 32:
                raise ValueError(f"{name} must be exactly 32 bytes")
        for name in ("salt", "token_id", "maker_amount", "taker_amount", "timestamp_ms"):
            value = getattr(self, name)
            if not 0 <= value < 2**256:
                raise ValueError(f"{name} {value} is not a uint256")


def order_struct_hash(order: Order) -> bytes:
    """``hashStruct(Order)``: the typehash and the 11 fields, ABI-encoded and hashed."""
    return keccak(
        abi_encode(
            [
                "bytes32",
                "uint256",
                "address",
                "address",
                "uint256",
                "uint256",
                "uint256",
                "uint8",
                "uint8",
                "uint256",
                "bytes32",
                "bytes32",
            ],
            [
                ORDER_TYPEHASH,
                order.salt,
                order.maker,
                order.signer,
                order.token_id,
                order.maker_amount,
                order.taker_amount,
                int(order.side),
                int(order.signature_type),
                order.timestamp_ms,
                order.metadata,
                order.builder,
            ],
        )
    )


def _eip712(domain_separator: bytes, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def order_digest(order: Order, domain: ExchangeDomain) -> bytes:
    """The EIP-712 order hash: the venue's order id, and what types 0-2 sign."""
    return _eip712(domain.separator(), order_struct_hash(order))


def _typed_data_sign_digest(order: Order, domain: ExchangeDomain) -> bytes:
    """The Solady nested-EIP-712 digest a POLY_1271 wallet owner signs."""
    envelope = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                TYPED_DATA_SIGN_TYPEHASH,
                order_struct_hash(order),
                keccak(text=DEPOSIT_WALLET_DOMAIN_NAME),
                keccak(text=DEPOSIT_WALLET_DOMAIN_VERSION),
                domain.chain_id,
                order.signer,
                ZERO_BYTES32,
            ],
        )
    )
    return _eip712(domain.separator(), envelope)


def signing_digest(order: Order, domain: ExchangeDomain) -> bytes:
    """The 32 bytes the key holder signs for this order's signature type."""
    if order.signature_type is SignatureType.POLY_1271:
        return _typed_data_sign_digest(order, domain)
    return order_digest(order, domain)


def _poly_1271_suffix(order: Order, domain: ExchangeDomain) -> bytes:
    contents_type = ORDER_TYPE_STRING.encode()
    return (
        domain.separator()
        + order_struct_hash(order)
        + contents_type
        + len(contents_type).to_bytes(2, "big")
    )


def encode_signature(order: Order, domain: ExchangeDomain, ecdsa_signature: bytes) -> str:
    """The wire ``signature`` (0x hex) from the 65-byte signature over :func:`signing_digest`."""
    if len(ecdsa_signature) != ECDSA_SIGNATURE_LENGTH:
        raise SignatureError(f"ECDSA signature must be 65 bytes, got {len(ecdsa_signature)}")
    if order.signature_type is SignatureType.POLY_1271:
        ecdsa_signature += _poly_1271_suffix(order, domain)
    return "0x" + ecdsa_signature.hex()


class Signer(Protocol):
    """Holds a secp256k1 key somewhere and signs orders and L1 auth messages with it.

    Async because in production the key lives in the vault process and each signature is
    a gRPC call carrying the order's fields
    (:class:`arbiter.venues.polymarket.credentials.VaultEoaSigner`)."""

    @property
    def address(self) -> str:
        """Checksummed address of the key."""
        ...

    async def sign_order(self, order: Order, domain: ExchangeDomain,
                         expiration_s: int = 0) -> bytes:
        """65-byte ``r || s || v`` (v = 27/28) over :func:`signing_digest`; ``expiration_s``
        (unsigned by V2, sent beside the order) lets the key holder judge it too."""
        ...

    async def sign_clob_auth(self, timestamp_s: int, nonce: int, chain_id: int) -> bytes:
        """65-byte ``r || s || v`` over the ClobAuth digest of this key's address."""
        ...


class LocalSigner:
    """An in-process eth-account key; for tests, the CLI and dry runs (production uses the vault)."""

    def __init__(self, private_key: str | bytes) -> None:
        self._account = Account.from_key(private_key)

    @classmethod
    def from_key_file(cls, path: Path) -> LocalSigner:
        """Read a hex private key (``0x`` optional, surrounding whitespace ignored) from a file."""
        return cls(path.read_text().strip())

    @property
    def address(self) -> str:
        return self._account.address

    def _sign(self, digest: bytes) -> bytes:
        return bytes(self._account.unsafe_sign_hash(digest).signature)

    async def sign_order(self, order: Order, domain: ExchangeDomain,
                         expiration_s: int = 0) -> bytes:
        return self._sign(signing_digest(order, domain))

    async def sign_clob_auth(self, timestamp_s: int, nonce: int, chain_id: int) -> bytes:
        return self._sign(clob_auth_digest(self.address, timestamp_s, nonce, chain_id))


async def sign_order(order: Order, domain: ExchangeDomain, signer: Signer,
                     expiration_s: int = 0) -> str:
    """Sign ``order`` for ``domain`` and return the wire signature."""
    ecdsa = await signer.sign_order(order, domain, expiration_s)
    return encode_signature(order, domain, ecdsa)


def recover_digest_signer(digest: bytes, ecdsa_signature: bytes) -> str:
    """Checksummed address whose key produced the 65-byte ``ecdsa_signature`` over ``digest``."""
    if len(ecdsa_signature) != ECDSA_SIGNATURE_LENGTH:
        raise SignatureError(f"ECDSA signature must be 65 bytes, got {len(ecdsa_signature)}")
    v = ecdsa_signature[64]
    if v not in (27, 28):
        raise SignatureError(f"ECDSA recovery id v must be 27 or 28, got {v}")
    signature = keys.Signature(ecdsa_signature[:64] + bytes([v - 27]))
    return to_checksum_address(signature.recover_public_key_from_msg_hash(digest).to_address())


def recover_order_signer(order: Order, signature: str, domain: ExchangeDomain) -> str:
    """The EOA that signed ``order``; the caller compares it with the expected key holder.

    For types 0-2 the exchange requires it to equal ``order.signer``. For POLY_1271 it is the
    deposit wallet's owner (``order.signer`` is the wallet), which only the wallet contract
    knows; the appended envelope must match this order and domain exactly.
    """
    raw = bytes.fromhex(signature.removeprefix("0x"))
    if order.signature_type is SignatureType.POLY_1271:
        suffix = _poly_1271_suffix(order, domain)
        if raw[ECDSA_SIGNATURE_LENGTH:] != suffix:
            raise SignatureError("POLY_1271 envelope does not match this order and domain")
        raw = raw[:ECDSA_SIGNATURE_LENGTH]
    return recover_digest_signer(signing_digest(order, domain), raw)
