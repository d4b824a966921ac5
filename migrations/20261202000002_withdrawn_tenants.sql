-- A tenant whose creation's site a late earlier claim takes back is unknown again, and its row
-- is removed. Its last version is kept here, so that if it is created again its versions go on
-- from there: change consumers drop a message whose version is not above the last they saw.
create table withdrawn_tenants (
    id           uuid primary key,
    version      bigint not null check (version >= 1),
    withdrawn_at timestamptz not null default now()
);
