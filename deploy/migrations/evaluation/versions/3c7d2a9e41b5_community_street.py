"""the street of each community (the street committee's veto)

Revision ID: 3c7d2a9e41b5
Revises: 815c38360a2f
Create Date: 2026-12-08 02:05:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '3c7d2a9e41b5'
down_revision: Union[str, Sequence[str], None] = '815c38360a2f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('ev_communities', sa.Column('street_id', sa.String(length=100), nullable=False, server_default=''))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('ev_communities') as batch:
        batch.drop_column('street_id')
