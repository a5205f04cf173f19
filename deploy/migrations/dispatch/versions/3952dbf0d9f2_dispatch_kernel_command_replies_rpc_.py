"""dispatch: kernel command_replies (RPC commands answered once)

Revision ID: 3952dbf0d9f2
Revises: 82378aa90e5b
Create Date: 2026-11-29 19:37:29.858088

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '3952dbf0d9f2'
down_revision: Union[str, Sequence[str], None] = '82378aa90e5b'
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
