"""full council re-key: key-switch contributions, switched headers and their attestations

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rekeys",
        sa.Column("new_epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("old_epoch", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("new_epoch"),
    )
    op.create_table(
        "switch_contributions",
        sa.Column("case_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("member", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", sa.LargeBinary(length=160), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "member"),
    )
    op.create_table(
        "header_attestations",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("signatures", sa.Text(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "switched_headers",
        sa.Column("case_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("r", sa.LargeBinary(length=32), nullable=False),
        sa.Column("c", sa.LargeBinary(length=32), nullable=False),
        sa.Column("wrap", sa.LargeBinary(length=72), nullable=False),
        sa.Column("origin", sa.LargeBinary(length=32), nullable=False),
        sa.Column("attestation", sa.Integer(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("path", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["attestation"], ["header_attestations.seq"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "epoch"),
    )
    op.create_table(
        "attestation_signatures",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("signer", sa.LargeBinary(length=32), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("epoch", "signer"),
    )


def downgrade() -> None:
    op.drop_table("attestation_signatures")
    op.drop_table("switched_headers")
    op.drop_table("header_attestations")
    op.drop_table("switch_contributions")
    op.drop_table("rekeys")
