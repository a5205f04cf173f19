"""funds: kernel inbox_streams

Revision ID: dc0eb8f3b6e3
Revises: da504ab8abc2
Create Date: 2026-11-29 17:12:04.431499

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'dc0eb8f3b6e3'
down_revision: Union[str, Sequence[str], None] = 'da504ab8abc2'
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
