"""evaluation: kernel command_replies (RPC commands answered once)

Revision ID: 815c38360a2f
Revises: f2900bef63e6
Create Date: 2026-11-29 19:37:31.110059

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '815c38360a2f'
down_revision: Union[str, Sequence[str], None] = 'f2900bef63e6'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # the kernel's tables (events, inbox, ...) are in deploy/migrations/kernel
    pass


def downgrade() -> None:
    """Downgrade schema."""
    # the kernel's tables (events, inbox, ...) are in deploy/migrations/kernel
    pass
