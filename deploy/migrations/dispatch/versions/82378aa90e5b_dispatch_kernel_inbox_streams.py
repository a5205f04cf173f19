"""dispatch: kernel inbox_streams

Revision ID: 82378aa90e5b
Revises: e231c7630314
Create Date: 2026-11-29 17:12:03.529687

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '82378aa90e5b'
down_revision: Union[str, Sequence[str], None] = 'e231c7630314'
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
