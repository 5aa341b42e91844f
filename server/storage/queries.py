"""Statements on the hot paths (authentication, intake, the audit chain), built once with bind
parameters. Building a statement per call costs SQLAlchemy four times more than executing it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.storage.models import AccountRow, AuditRow, CaseRow, ChainHead, NonceRow, RateRow, WrapRow

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


NONCE_SEEN = select(NonceRow.digest).where(NonceRow.digest == bindparam("digest"))
RATE_READ = select(RateRow.count).where(RateRow.principal == bindparam("principal"), RateRow.window == bindparam("window"))
NONCE_INSERT = {"sqlite": _nonce_insert(sqlite_insert), "postgresql": _nonce_insert(pg_insert)}
RATE_UPSERT = {"sqlite": _rate_upsert(sqlite_insert), "postgresql": _rate_upsert(pg_insert)}

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
    WRAP_INSERT,
    NONCE_INSERT["sqlite"],
    RATE_UPSERT["sqlite"],
    RATE_READ,
    NONCE_SEEN,
)
