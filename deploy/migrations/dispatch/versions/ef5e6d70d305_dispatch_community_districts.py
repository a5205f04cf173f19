"""dispatch: the district of each community (which district's yearly minimum applies)

Revision ID: ef5e6d70d305
Revises: cf4c804b3fd4
Create Date: 2026-12-08 02:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'ef5e6d70d305'
down_revision: Union[str, Sequence[str], None] = 'cf4c804b3fd4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('rm_dispatch_community_districts',
    sa.Column('community_id', sa.String(length=100), nullable=False),
    sa.Column('district_id', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('community_id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('rm_dispatch_community_districts')
