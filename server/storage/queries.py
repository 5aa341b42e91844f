"""Statements on the hot paths (authentication, intake, the audit chain), built once with bind
parameters. Building a statement per call costs SQLAlchemy four times more than executing it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, LargeBinary, String, any_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.storage.models import AccountRow, AuditRow, CaseRow, ChainHead, NonceRow, RateRow, SpentTokenRow, WrapRow

ACCOUNT_FOR_AUTH = select(AccountRow.role, AccountRow.sign_key, AccountRow.revoked).where(AccountRow.account == bindparam("name"))
CASE_REPLY_KEY = select(CaseRow.reply_sign_key).where(CaseRow.case_id == bindparam("case_id"))
CASE_RECEIPT = select(CaseRow.case_id, CaseRow.receipt, CaseRow.day).where(CaseRow.case_id == bindparam("case_id"))
CHAIN_LOCK = select(ChainHead.seq, ChainHead.head).where(ChainHead.name == bindparam("name")).with_for_update()
CHAIN_READ = select(ChainHead.seq, ChainHead.head).where(ChainHead.name == bindparam("name"))
CHAIN_ADVANCE = (
    update(ChainHead).where(ChainHead.name == bindparam("chain")).values(seq=bindparam("new_seq"), head=bindparam("new_head"))
)
AUDIT_INSERT = insert(AuditRow)
CASE_INSERT = insert(CaseRow)
WRAP_INSERT = insert(WrapRow)


def _nonce_insert(dialect_insert: Any) -> Any:
    stmt = dialect_insert(NonceRow).values(digest=bindparam("digest"), expires=bindparam("expires"))
    return stmt.on_conflict_do_nothing().returning(NonceRow.digest)


def _rate_upsert(dialect_insert: Any) -> Any:
    stmt = dialect_insert(RateRow).values(principal=bindparam("principal"), window=bindparam("window"), count=1)
    return stmt.on_conflict_do_update(index_elements=["principal", "window"], set_={"count": RateRow.count + 1}).returning(
        RateRow.count
    )


def _token_spend(dialect_insert: Any) -> Any:
    stmt = dialect_insert(SpentTokenRow).values(nonce=bindparam("nonce"), epoch=bindparam("epoch"), case_id=bindparam("case_id"))
    return stmt.on_conflict_do_nothing().returning(SpentTokenRow.nonce)


def _case_insert_new(dialect_insert: Any) -> Any:
    return dialect_insert(CaseRow).on_conflict_do_nothing(index_elements=["case_id"]).returning(CaseRow.case_id)


NONCE_SEEN = select(NonceRow.digest).where(NonceRow.digest == bindparam("digest"))
RATE_READ = select(RateRow.count).where(RateRow.principal == bindparam("principal"), RateRow.window == bindparam("window"))
NONCE_INSERT = {"sqlite": _nonce_insert(sqlite_insert), "postgresql": _nonce_insert(pg_insert)}
RATE_UPSERT = {"sqlite": _rate_upsert(sqlite_insert), "postgresql": _rate_upsert(pg_insert)}
CASE_INSERT_NEW = {"sqlite": _case_insert_new(sqlite_insert), "postgresql": _case_insert_new(pg_insert)}  # -> case_id if new
TOKEN_SPEND = {"sqlite": _token_spend(sqlite_insert), "postgresql": _token_spend(pg_insert)}  # -> nonce if not spent before
TOKEN_SPENT = select(SpentTokenRow.case_id).where(SpentTokenRow.nonce == bindparam("nonce"))

# On SQLite these run on the driver's cursor, compiled once by SQLAlchemy (storage/raw.py)
SQLITE_RAW = (
    ACCOUNT_FOR_AUTH,
    CASE_REPLY_KEY,
    CASE_RECEIPT,
    CHAIN_LOCK,
    CHAIN_READ,
    CHAIN_ADVANCE,
    AUDIT_INSERT,
    CASE_INSERT,
    CASE_INSERT_NEW["sqlite"],
    WRAP_INSERT,
    NONCE_INSERT["sqlite"],
    RATE_UPSERT["sqlite"],
    RATE_READ,
    NONCE_SEEN,
    TOKEN_SPEND["sqlite"],
    TOKEN_SPENT,
)

# On PostgreSQL these run on asyncpg's connection, prepared once per connection (storage/raw.py)
PG_RAW = (
    ACCOUNT_FOR_AUTH,
    CASE_REPLY_KEY,
    CASE_RECEIPT,
    CHAIN_LOCK,
    CHAIN_READ,
    CHAIN_ADVANCE,
    AUDIT_INSERT,
    CASE_INSERT,
    CASE_INSERT_NEW["postgresql"],
    WRAP_INSERT,
    NONCE_INSERT["postgresql"],
    RATE_UPSERT["postgresql"],
    RATE_READ,
    NONCE_SEEN,
    TOKEN_SPEND["postgresql"],
    TOKEN_SPENT,
)


# PostgreSQL: the merged form of each hot statement, for many requests at once (storage/merge.py). Each
# takes one array per parameter of the statement it merges, named alike.
def _array(name: str, of: Any) -> Any:
    return bindparam(name, type_=ARRAY(of))


def _unnest(*columns: tuple[str, Any]) -> Any:
    return select(*(func.unnest(_array(name, of)) for name, of in columns))


_CASE_COLUMNS = (
    ("case_id", LargeBinary),
    ("state", String),
    ("day", Integer),
    ("epoch", Integer),
    ("receipt", LargeBinary),
    ("envelope", String),
    ("reply_sign_key", LargeBinary),
    ("reply_box_key", LargeBinary),
)
_rates = pg_insert(RateRow).from_select(
    ["principal", "window", "count"], _unnest(("principal", String), ("window", Integer), ("count", Integer))
)
MERGED_ACCOUNTS = select(AccountRow.account, AccountRow.role, AccountRow.sign_key, AccountRow.revoked).where(
    AccountRow.account == any_(_array("name", String))
)
MERGED_REPLY_KEYS = select(CaseRow.case_id, CaseRow.reply_sign_key).where(CaseRow.case_id == any_(_array("case_id", LargeBinary)))
MERGED_RECEIPTS = select(CaseRow.case_id, CaseRow.case_id, CaseRow.receipt, CaseRow.day).where(
    CaseRow.case_id == any_(_array("case_id", LargeBinary))
)
MERGED_CHAINS = select(ChainHead.name, ChainHead.seq, ChainHead.head).where(ChainHead.name == any_(_array("name", String)))
MERGED_NONCES_SEEN = select(NonceRow.digest, NonceRow.digest).where(NonceRow.digest == any_(_array("digest", LargeBinary)))
MERGED_RATES = select(RateRow.principal, RateRow.window, RateRow.count).where(
    tuple_(RateRow.principal, RateRow.window).in_(_unnest(("principal", String), ("window", Integer)))
)
MERGED_NONCE_INSERT = (
    pg_insert(NonceRow)
    .from_select(["digest", "expires"], _unnest(("digest", LargeBinary), ("expires", Integer)))
    .on_conflict_do_nothing()
    .returning(NonceRow.digest)
)
MERGED_RATE_UPSERT = _rates.on_conflict_do_update(
    index_elements=["principal", "window"], set_={"count": RateRow.count + _rates.excluded["count"]}
).returning(RateRow.principal, RateRow.window, RateRow.count)
MERGED_CASE_INSERT_NEW = (
    pg_insert(CaseRow)
    .from_select([name for name, _ in _CASE_COLUMNS], _unnest(*_CASE_COLUMNS))
    .on_conflict_do_nothing(index_elements=["case_id"])
    .returning(CaseRow.case_id)
)
MERGED_WRAP_INSERT = (
    pg_insert(WrapRow)
    .from_select(
        ["case_id", "recipient", "sealed"], _unnest(("case_id", LargeBinary), ("recipient", LargeBinary), ("sealed", LargeBinary))
    )
    .on_conflict_do_nothing()
)
_AUDIT_COLUMNS = (
    ("seq", Integer),
    ("hash", LargeBinary),
    ("day", Integer),
    ("actor", String),
    ("action", String),
    ("object", String),
    ("detail", String),
)
# a merged batch's audit entries and the head that now points at the last of them, in one statement
MERGED_AUDIT_APPEND = CHAIN_ADVANCE.add_cte(
    insert(AuditRow).from_select([name for name, _ in _AUDIT_COLUMNS], _unnest(*_AUDIT_COLUMNS)).cte("entries")
)
MERGED_TOKEN_SPEND = (
    pg_insert(SpentTokenRow)
    .from_select(["nonce", "epoch", "case_id"], _unnest(("nonce", LargeBinary), ("epoch", Integer), ("case_id", LargeBinary)))
    .on_conflict_do_nothing()
    .returning(SpentTokenRow.nonce)
)
MERGED_TOKEN_SPENT = select(SpentTokenRow.nonce, SpentTokenRow.case_id).where(
    SpentTokenRow.nonce == any_(_array("nonce", LargeBinary))
)
