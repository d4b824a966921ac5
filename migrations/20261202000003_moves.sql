-- Routing epochs and moves (CONTRACT.md section 7). A tenant's route carries an epoch, raised
-- by every change of its placement or routing status and never lowered, so that a caller
-- holding a route can tell whether it is stale; and a routing status: ONLINE, MOVING while a
-- move copies its data, READ_ONLY on the source while the move cuts over.

alter table tenants add column epoch bigint not null default 0 check (epoch >= 0);
alter table tenants add column route_status text not null default 'ONLINE'
    check (route_status in ('ONLINE', 'READ_ONLY', 'MOVING'));
-- Every tenant placed so far was placed once.
update tenants set epoch = 1 where shard_id is not null;

-- A tenant created again after its withdrawal goes on from its last epoch too.
alter table withdrawn_tenants add column epoch bigint not null default 0 check (epoch >= 0);

-- Moves between shards: the workflow's state, so that any `serve` can advance, cancel or expire
-- a move, and a restart loses none. The target's slot is taken when the move is created
-- (counted in the target's `tenant_count`), the source's is freed when it is done; a cancelled
-- move frees the target's.
create table moves (
    id           uuid primary key,
    tenant_id    uuid not null,
    from_shard   text not null references shards (id),
    to_shard     text not null references shards (id),
    phase        text not null check (phase in ('copying', 'cutover', 'done', 'cancelled')),
    -- Who asked (the token's `sub`, or the service for drains and residency) and why.
    requested_by text not null,
    reason       text not null,
    origin       text not null check (origin in ('admin', 'drain', 'residency')),
    -- A move nobody advances is cancelled at this instant, when one is set.
    deadline_at  timestamptz,
    -- Why it was cancelled, and by whom.
    cancelled_by text,
    cancel_reason text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    finished_at  timestamptz,
    constraint moves_between_two_shards check (from_shard <> to_shard),
    constraint moves_finished_when_ended check ((phase in ('done', 'cancelled')) = (finished_at is not null))
);
-- At most one move of a tenant runs at a time.
create unique index moves_one_running_per_tenant on moves (tenant_id) where phase in ('copying', 'cutover');
create index moves_by_tenant on moves (tenant_id, created_at);
create index moves_running_by_deadline on moves (deadline_at) where phase in ('copying', 'cutover') and deadline_at is not null;
create index moves_running_from on moves (from_shard) where phase in ('copying', 'cutover');
create index moves_running_to on moves (to_shard) where phase in ('copying', 'cutover');
create trigger moves_updated_at before update on moves for each row execute function set_updated_at();

-- Drains: a draining shard whose tenants the scheduler moves out, a bounded number at a time.
alter table shards add column drain_requested_at timestamptz;
alter table shards add column drain_requested_by text;
alter table shards add column drain_batch integer check (drain_batch between 1 and 1000);
