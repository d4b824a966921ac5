-- A durable receipt of every deletion carried out: when, what caused it and who, what was
-- purged, and a digest of the history as it was before its site names were removed. It outlives
-- the purge: nothing ever deletes or rewrites a receipt.
create table deletion_receipts (
    tenant_id   uuid primary key,
    deleted_at  timestamptz not null,
    receipt     jsonb not null,
    recorded_at timestamptz not null default now()
);
