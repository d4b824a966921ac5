-- The tenant catalog: shards, tenants, their events (history), old hosts, and the change-feed
-- outbox. Invariants that must hold whatever the code does are constraints here.

create function set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create table shards (
    id           text primary key check (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    region       text not null check (region in ('us-east-1', 'eu-central-1', 'eu-west-1', 'ap-southeast-1', 'ap-southeast-2')),
    endpoint     text not null check (endpoint <> ''),
    capacity     integer not null check (capacity >= 0),
    -- Tenants placed here and not deleted; kept by the placement code so that the fill
    -- constraint below is checked by the database on every placement.
    tenant_count integer not null default 0 check (tenant_count >= 0),
    status       text not null default 'open' check (status in ('open', 'draining')),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint shard_fill_within_capacity check (tenant_count <= capacity)
);
create index shards_open_by_region on shards (region) where status = 'open';
create trigger shards_updated_at before update on shards for each row execute function set_updated_at();

create table tenants (
    id                        uuid primary key,
    lifecycle                 text not null check (lifecycle in ('TRIAL', 'ACTIVE', 'CANCELLING', 'DEACTIVATED', 'DELETED')),
    -- The shown state (contract section 4), derived from lifecycle, suspended and placement;
    -- stored so that callers can filter on it.
    state                     text not null check (state in ('PROVISIONING', 'TRIAL', 'ACTIVE', 'CANCELLING', 'SUSPENDED', 'DEACTIVATED', 'DELETED')),
    suspended                 boolean not null,
    site                      text check (site ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
    old_sites                 text[] not null default '{}',
    residency                 text not null check (residency in ('us', 'eu', 'de', 'ie', 'sg', 'au', 'global')),
    region                    text,
    shard_id                  text references shards (id),
    products                  text[],
    billing_day               smallint check (billing_day between 1 and 28),
    plan                      text,
    cycle                     text check (cycle in ('monthly', 'annual')),
    trial_ends_at             timestamptz,
    current_period_end        timestamptz,
    cancellation_effective_at timestamptz,
    deletion_due_at           timestamptz,
    -- When the next timed transition is due; the scheduler's work list.
    next_timer_at             timestamptz,
    -- Commerce's time of the creating event, and of the carried-out deletion.
    created_at                timestamptz not null,
    deleted_at                timestamptz,
    version                   bigint not null check (version >= 1),
    caused_by                 uuid,
    inserted_at               timestamptz not null default now(),
    updated_at                timestamptz not null default now(),
    -- A deleted tenant has no site, hosts or products; a live one always has a site.
    constraint deleted_tenants_are_purged check (
        (lifecycle = 'DELETED') = (site is null)
        and (lifecycle <> 'DELETED' or (products is null and old_sites = '{}'))
    ),
    constraint placement_has_region check (shard_id is null or region is not null)
);
-- Sites are unique among tenants that are not deleted (deleted tenants have none).
create unique index tenants_site_unique on tenants (site);
create index tenants_next_timer on tenants (next_timer_at) where next_timer_at is not null;
create index tenants_waiting_for_placement on tenants (inserted_at) where shard_id is null and lifecycle <> 'DELETED';
create index tenants_by_state on tenants (state, id);
create index tenants_by_shard on tenants (shard_id, id);
create index tenants_by_region on tenants (region, id);
create trigger tenants_updated_at before update on tenants for each row execute function set_updated_at();

-- Old sites of renamed tenants, for host lookups. The same old site may have belonged to
-- several tenants over time; the latest alias wins, and a current site beats any alias.
create table site_aliases (
    site       text not null,
    tenant_id  uuid not null references tenants (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (site, tenant_id)
);
create index site_aliases_by_tenant on site_aliases (tenant_id);

-- Every distinct event ever received, once, with its judgement at its place in contract
-- order. Events are kept for tenants that do not exist (yet): a creating event may come later.
create table tenant_events (
    event_id    uuid primary key,
    tenant_id   uuid not null,
    type        text not null,
    occurred_at timestamptz not null,
    sequence    bigint check (sequence >= 0),
    data        jsonb not null,
    outcome     text not null check (outcome in ('applied', 'duplicate', 'rejected')),
    reason      text,
    -- How many times the message was delivered; more than 1 means redeliveries were seen.
    deliveries  integer not null default 1 check (deliveries >= 1),
    received_at timestamptz not null default now(),
    judged_at   timestamptz not null default now()
);
create index tenant_events_in_contract_order on tenant_events (tenant_id, occurred_at, sequence, event_id);

-- Transactional outbox of tenant changes, drained to the `tenant-catalog.changes` exchange.
create table outbox (
    id          bigserial primary key,
    tenant_id   uuid not null,
    routing_key text not null,
    payload     jsonb not null,
    created_at  timestamptz not null default now()
);
