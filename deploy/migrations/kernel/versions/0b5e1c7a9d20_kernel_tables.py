"""kernel: the kernel's tables, in every event-sourced service's schema

Revision ID: 0b5e1c7a9d20
Revises:
Create Date: 2026-12-07 23:30:00

Before the kernel had its own history, each service's history created these tables itself; a
database made then has some or all of them already, so each is created only where it is missing
(they are the same tables either way).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0b5e1c7a9d20'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

POSITION = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if 'events' not in present:
        op.create_table('events',
        sa.Column('global_position', POSITION, autoincrement=True, nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('stream_id', sa.String(length=200), nullable=False),
        sa.Column('stream_version', sa.Integer(), nullable=False),
        sa.Column('event_type', sa.String(length=100), nullable=False),
        sa.Column('schema_version', sa.Integer(), nullable=False),
        sa.Column('occurred_at', sa.String(length=40), nullable=False),
        sa.Column('correlation_id', sa.String(length=64), nullable=True),
        sa.Column('causation_id', sa.String(length=64), nullable=True),
        sa.Column('actor', sa.Text(), nullable=True),
        sa.Column('data', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('global_position'),
        sa.UniqueConstraint('event_id', name='uq_events_event_id'),
        sa.UniqueConstraint('stream_id', 'stream_version', name='uq_events_stream_version')
        )
    if 'inbox' not in present:
        op.create_table('inbox',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('handler', sa.String(length=200), nullable=False),
        sa.Column('processed_at', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('event_id', 'handler')
        )
    if 'inbox_streams' not in present:
        op.create_table('inbox_streams',
        sa.Column('handler', sa.String(length=200), nullable=False),
        sa.Column('stream_id', sa.String(length=300), nullable=False),
        sa.Column('stream_version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('handler', 'stream_id')
        )
    if 'command_replies' not in present:
        op.create_table('command_replies',
        sa.Column('request_key', sa.String(length=200), nullable=False),
        sa.Column('reply', sa.Text(), nullable=False),
        sa.Column('recorded_at', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('request_key')
        )
        op.create_index(op.f('ix_command_replies_recorded_at'), 'command_replies', ['recorded_at'], unique=False)
    if 'projection_checkpoints' not in present:
        op.create_table('projection_checkpoints',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('position', POSITION, nullable=False),
        sa.PrimaryKeyConstraint('name')
        )
    if 'relay_state' not in present:
        op.create_table('relay_state',
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('position', POSITION, nullable=False),
        sa.Column('owner', sa.String(length=100), nullable=True),
        sa.Column('lease_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name')
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('relay_state')
    op.drop_table('projection_checkpoints')
    op.drop_index(op.f('ix_command_replies_recorded_at'), table_name='command_replies')
    op.drop_table('command_replies')
    op.drop_table('inbox_streams')
    op.drop_table('inbox')
    op.drop_table('events')
