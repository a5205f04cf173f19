"""registration: kernel command_replies (RPC commands answered once)

Revision ID: b754a4f051d9
Revises: bf730af01aa8
Create Date: 2026-11-29 19:37:28.660547

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b754a4f051d9'
down_revision: Union[str, Sequence[str], None] = 'bf730af01aa8'
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
