"""notify: kernel command_replies (RPC commands answered once)

Revision ID: b9ea47a63894
Revises: c3fd7046f70b
Create Date: 2026-11-29 19:37:32.567331

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b9ea47a63894'
down_revision: Union[str, Sequence[str], None] = 'c3fd7046f70b'
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
