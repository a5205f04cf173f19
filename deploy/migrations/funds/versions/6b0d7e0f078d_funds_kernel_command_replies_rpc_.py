"""funds: kernel command_replies (RPC commands answered once)

Revision ID: 6b0d7e0f078d
Revises: dc0eb8f3b6e3
Create Date: 2026-11-29 19:37:34.177380

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '6b0d7e0f078d'
down_revision: Union[str, Sequence[str], None] = 'dc0eb8f3b6e3'
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
