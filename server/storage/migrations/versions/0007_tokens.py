"""anonymous submission tokens: the token key of each epoch, each helper's issuance count per epoch, spent tokens

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_keys",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("epoch"),
    )
    op.create_table(
        "token_issuance",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account", "epoch"),
    )
    op.create_table(
        "spent_tokens",
        sa.Column("nonce", sa.LargeBinary(length=32), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.LargeBinary(length=16), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )


def downgrade() -> None:
    op.drop_table("spent_tokens")
    op.drop_table("token_issuance")
    op.drop_table("token_keys")
